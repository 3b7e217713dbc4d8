// Bilinear resizing exactly as OpenCV computes it with INTER_LINEAR_EXACT for 8-bit images
// (its "bit-exact" bilinear: weights with 8 fractional bits from correctly rounded double
// arithmetic, pixel centres aligned, taps past the edge clamped to the edge pixel, an exact
// halving done as 2x2 averaging). OpenCV's CascadeClassifier builds its image pyramid with it,
// so a face detector run on levels made here sees the pixels detectMultiScale sees (checked
// against cv2.resize in the tests). Shrinking by a large factor aliases (two taps per axis):
// data::resize is the one for model inputs.
#pragma once

#include <cstdint>

#include "minidl/data/image.h"

namespace minidl::data {

GrayImage resize_bilinear(const GrayImage& src, std::int64_t h, std::int64_t w);

}  // namespace minidl::data
