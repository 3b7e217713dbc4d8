// The augmentation warp: one affine map per image with bilinear sampling. For each output
// pixel (x, y) (pixel centres at integer coordinates) the source point is
//   sx = m[0]*x + m[1]*y + m[2],   sy = m[3]*x + m[4]*y + m[5]
// and samples outside the image read `fill`. An identity matrix returns the input exactly.
#pragma once

#include "minidl/base/affine.h"
#include "minidl/kernels/common.h"

namespace minidl::kernels {

// n images [n, h, w] in, n float images out; mats holds one matrix per image, in the memory of
// the device the kernel runs on. The output keeps the input's scale.
namespace cpu {
// In = std::uint8_t (the loader's decoded images, warped in its threads) or float.
template <typename In>
void affine_warp(Stream, std::int64_t n, std::int64_t h, std::int64_t w, const In* src, const AffineMatrix* mats,
                 float fill, float* dst);
}  // namespace cpu

namespace cuda {
// In = float: the whole batch in one launch.
template <typename In>
void affine_warp(Stream, std::int64_t n, std::int64_t h, std::int64_t w, const In* src, const AffineMatrix* mats,
                 float fill, float* dst);
}  // namespace cuda

}  // namespace minidl::kernels
