#include "minidl/data/face_crop.h"

#include <algorithm>
#include <cmath>

#include "minidl/base/error.h"

namespace minidl::data {

Rect face_crop_box(const Rect& face, double margin) {
  MINIDL_CHECK(std::isfinite(margin) && margin > 0, "face crop: margin must be positive, got ", margin);
  const double side = std::max<double>(1.0, std::round(static_cast<double>(std::max(face.width, face.height)) * margin));
  const double cx = static_cast<double>(face.x) + static_cast<double>(face.width) / 2.0;
  const double cy = static_cast<double>(face.y) + static_cast<double>(face.height) / 2.0;
  const auto s = static_cast<std::int64_t>(side);
  return {static_cast<std::int64_t>(std::floor(cx - side / 2.0)), static_cast<std::int64_t>(std::floor(cy - side / 2.0)), s, s};
}

GrayImage crop_face(const GrayImage& image, const Rect& face, std::int64_t size, double margin) {
  MINIDL_CHECK(!image.empty() && face.area() > 0 && size > 0, "face crop: cannot crop a ", face.width, "x", face.height,
               " box from a ", image.w, "x", image.h, " image to ", size, "x", size);
  const Rect sq = face_crop_box(face, margin);
  GrayImage out(sq.height, sq.width);
  for (std::int64_t y = 0; y < sq.height; ++y) {
    const std::int64_t sy = std::clamp<std::int64_t>(sq.y + y, 0, image.h - 1);
    for (std::int64_t x = 0; x < sq.width; ++x)
      out.at(y, x) = image.at(sy, std::clamp<std::int64_t>(sq.x + x, 0, image.w - 1));
  }
  return resize(out, size, size);
}

}  // namespace minidl::data
