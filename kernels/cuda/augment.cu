// The batched augmentation warp: one thread per output pixel of the whole batch, each image
// with its own affine matrix, bilinear sampling, `fill` for neighbours outside the image
// (kernels/augment.h). The arithmetic is the CPU twin's (kernels/cpu/augment.cpp), step by step.
#include <cmath>

#include "minidl/kernels/augment.h"
#include "minidl/kernels/cuda/launch.cuh"

namespace minidl::kernels::cuda {

namespace {

__global__ void affine_warp_kernel(std::int64_t n, std::int64_t h, std::int64_t w, const float* src,
                                   const AffineMatrix* mats, float fill, float* dst) {
  const std::int64_t total = n * h * w, pix = h * w;
  for (std::int64_t i = detail::grid_index(); i < total; i += detail::grid_stride()) {
    const std::int64_t img = i / pix, at = i - img * pix;
    const std::int64_t y = at / w, x = at - y * w;
    const float* m = mats[img].m;
    // Explicitly rounded products and sums (no fused multiply-add), in the order the CPU twin
    // uses, so both give the same bits: an identity or a mirror lands on integer coordinates.
    const float fx = float(x), fy = float(y);
    const float sx = __fadd_rn(__fadd_rn(__fmul_rn(m[0], fx), __fmul_rn(m[1], fy)), m[2]);
    const float sy = __fadd_rn(__fadd_rn(__fmul_rn(m[3], fx), __fmul_rn(m[4], fy)), m[5]);
    // Far outside (or NaN): every neighbour is fill, and the conversions below stay in range.
    if (!(sx > -1.f && sx < float(w) && sy > -1.f && sy < float(h))) {
      dst[i] = fill;
      continue;
    }
    const float x0f = floorf(sx), y0f = floorf(sy);
    const float ax = __fsub_rn(sx, x0f), ay = __fsub_rn(sy, y0f);  // exactly 0 at integer coordinates
    const std::int64_t x0 = std::int64_t(x0f), y0 = std::int64_t(y0f);
    const bool in_x0 = x0 >= 0, in_x1 = x0 + 1 < w, in_y0 = y0 >= 0, in_y1 = y0 + 1 < h;
    const float* im = src + img * pix;
    const float v00 = in_y0 && in_x0 ? im[y0 * w + x0] : fill;
    const float v01 = in_y0 && in_x1 ? im[y0 * w + x0 + 1] : fill;
    const float v10 = in_y1 && in_x0 ? im[(y0 + 1) * w + x0] : fill;
    const float v11 = in_y1 && in_x1 ? im[(y0 + 1) * w + x0 + 1] : fill;
    const float bx = __fsub_rn(1.f, ax), by = __fsub_rn(1.f, ay);
    const float top = __fadd_rn(__fmul_rn(v00, bx), __fmul_rn(v01, ax));
    const float bottom = __fadd_rn(__fmul_rn(v10, bx), __fmul_rn(v11, ax));
    dst[i] = __fadd_rn(__fmul_rn(top, by), __fmul_rn(bottom, ay));
  }
}

}  // namespace

template <typename In>
void affine_warp(Stream stream, std::int64_t n, std::int64_t h, std::int64_t w, const In* src,
                 const AffineMatrix* mats, float fill, float* dst) {
  const std::int64_t total = n * h * w;
  if (total <= 0) return;
  affine_warp_kernel<<<grid_for(total), kBlock, 0, native(stream)>>>(n, h, w, src, mats, fill, dst);
  CUDA_LAUNCH_CHECK("affine_warp_kernel");
}

template void affine_warp<float>(Stream, std::int64_t, std::int64_t, std::int64_t, const float*, const AffineMatrix*,
                                 float, float*);

}  // namespace minidl::kernels::cuda
