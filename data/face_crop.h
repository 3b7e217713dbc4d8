// The crop of a detected face that a FER model is given, made the way FER2013's images were:
// a square centred on the detector's box, a little larger than it (the box of OpenCV's
// frontal-face cascades runs from the brows to the chin; FER2013's faces show the forehead and
// the whole chin), grayscale, resized to the model's input by area averaging. Parts of the
// square outside the photo repeat the nearest edge pixel, so a face at the border keeps its
// place in the crop.
#pragma once

#include <cstdint>

#include "minidl/data/image.h"
#include "minidl/data/rect.h"

namespace minidl::data {

// Side of the crop over the larger side of the detector's box (docs/decisions.md).
constexpr double kFaceCropMargin = 1.2;

// The square (possibly reaching outside the image) that crop_face cuts out.
Rect face_crop_box(const Rect& face, double margin = kFaceCropMargin);

// The face as a size x size model input. Throws minidl::Error for an empty box or image.
GrayImage crop_face(const GrayImage& image, const Rect& face, std::int64_t size, double margin = kFaceCropMargin);

}  // namespace minidl::data
