// The augmentation warp: one affine map per image with bilinear sampling. For each output
// pixel (x, y) (pixel centres at integer coordinates) the source point is
//   sx = m[0]*x + m[1]*y + m[2],   sy = m[3]*x + m[4]*y + m[5]
// and samples outside the image read `fill`. An identity matrix returns the input exactly.
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

struct AffineMatrix {
  float m[6];
};

namespace cpu {
// One image: src and dst are h*w; In is std::uint8_t or float; the output keeps the input's scale.
template <typename In>
void affine_warp(std::int64_t h, std::int64_t w, const In* src, const AffineMatrix& m, float fill, float* dst);
}  // namespace cpu

namespace cuda {
// A batch of n float images [n, h, w] in place of n calls; mats is device memory (n matrices).
void affine_warp(std::int64_t n, std::int64_t h, std::int64_t w, const float* src, const AffineMatrix* mats,
                 float fill, float* dst, Stream stream);
}  // namespace cuda

}  // namespace minidl::kernels
