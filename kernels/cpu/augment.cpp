// CPU twin of the batched CUDA augmentation warp (see kernels/augment.h for the contract).
#include <cmath>
#include <cstdint>

#include "minidl/kernels/augment.h"

namespace minidl::kernels::cpu {

namespace {

template <typename In>
void warp_one(std::int64_t h, std::int64_t w, const In* src, const AffineMatrix& mat, float fill, float* dst) {
  const float* m = mat.m;
  for (std::int64_t y = 0; y < h; ++y) {
    const float fy = static_cast<float>(y);
    float* out = dst + y * w;
    for (std::int64_t x = 0; x < w; ++x) {
      const float fx = static_cast<float>(x);
      // Computed as written in the header (no incremental stepping), so an identity or a pure
      // mirror gives exactly integer source coordinates and the CUDA kernel can match bit for bit.
      const float sx = m[0] * fx + m[1] * fy + m[2];
      const float sy = m[3] * fx + m[4] * fy + m[5];
      // Far outside (or NaN): all four neighbours are fill, and the casts below stay in range.
      if (!(sx > -1.f && sx < static_cast<float>(w) && sy > -1.f && sy < static_cast<float>(h))) {
        out[x] = fill;
        continue;
      }
      const float x0f = std::floor(sx), y0f = std::floor(sy);
      const float ax = sx - x0f, ay = sy - y0f;  // exactly 0 at integer coordinates
      const auto x0 = static_cast<std::int64_t>(x0f), y0 = static_cast<std::int64_t>(y0f);
      const bool in_x0 = x0 >= 0, in_x1 = x0 + 1 < w, in_y0 = y0 >= 0, in_y1 = y0 + 1 < h;
      const float v00 = in_y0 && in_x0 ? static_cast<float>(src[y0 * w + x0]) : fill;
      const float v01 = in_y0 && in_x1 ? static_cast<float>(src[y0 * w + x0 + 1]) : fill;
      const float v10 = in_y1 && in_x0 ? static_cast<float>(src[(y0 + 1) * w + x0]) : fill;
      const float v11 = in_y1 && in_x1 ? static_cast<float>(src[(y0 + 1) * w + x0 + 1]) : fill;
      // With ax = ay = 0 this is (v00*1 + v01*0)*1 + (v10*1 + v11*0)*0 = v00 exactly.
      const float top = v00 * (1.f - ax) + v01 * ax;
      const float bottom = v10 * (1.f - ax) + v11 * ax;
      out[x] = top * (1.f - ay) + bottom * ay;
    }
  }
}

}  // namespace

template <typename In>
void affine_warp(Stream, std::int64_t n, std::int64_t h, std::int64_t w, const In* src, const AffineMatrix* mats,
                 float fill, float* dst) {
  for (std::int64_t i = 0; i < n; ++i) warp_one(h, w, src + i * h * w, mats[i], fill, dst + i * h * w);
}

template void affine_warp<std::uint8_t>(Stream, std::int64_t, std::int64_t, std::int64_t, const std::uint8_t*,
                                        const AffineMatrix*, float, float*);
template void affine_warp<float>(Stream, std::int64_t, std::int64_t, std::int64_t, const float*, const AffineMatrix*,
                                 float, float*);

}  // namespace minidl::kernels::cpu
