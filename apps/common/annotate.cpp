#include "common/annotate.h"

#include <algorithm>
#include <array>

#include "common/bitmap_font.h"
#include "minidl/core/file_io.h"
#include "minidl/data/image_io.h"

namespace minidl::app {

namespace {

using Rgb = std::array<std::uint8_t, 3>;
// Colours that stand out on a grayscale photo and from each other.
const Rgb kColours[] = {{0, 220, 0}, {255, 140, 0}, {0, 200, 255}, {255, 0, 200}, {255, 230, 0}, {120, 120, 255}};

struct Canvas {
  std::int64_t h, w;
  std::vector<std::uint8_t> px;
  void fill(std::int64_t x0, std::int64_t y0, std::int64_t x1, std::int64_t y1, const Rgb& c) {
    x0 = std::max<std::int64_t>(x0, 0), y0 = std::max<std::int64_t>(y0, 0);
    x1 = std::min(x1, w), y1 = std::min(y1, h);
    for (std::int64_t y = y0; y < y1; ++y)
      for (std::int64_t x = x0; x < x1; ++x) std::copy(c.begin(), c.end(), &px[static_cast<std::size_t>((y * w + x) * 3)]);
  }
  void text(const std::string& s, std::int64_t x0, std::int64_t y0, int scale, const Rgb& c) {
    for (std::size_t i = 0; i < s.size(); ++i)
      for (int gy = 0; gy < kGlyphHeight; ++gy)
        for (int gx = 0; gx < kGlyphWidth; ++gx)
          if (glyph_pixel(s[i], gx, gy)) {
            const std::int64_t x = x0 + static_cast<std::int64_t>(i) * (kGlyphWidth + 1) * scale + gx * scale;
            const std::int64_t y = y0 + gy * scale;
            fill(x, y, x + scale, y + scale, c);
          }
  }
};

}  // namespace

std::vector<std::uint8_t> annotate_rgb(const data::GrayImage& image, const std::vector<Annotation>& annotations) {
  Canvas cv{image.h, image.w, std::vector<std::uint8_t>(image.pixels.size() * 3)};
  for (std::size_t i = 0; i < image.pixels.size(); ++i) std::fill_n(&cv.px[i * 3], 3, image.pixels[i]);
  // Lines and letters grow with the image so they stay legible on a large photo.
  const std::int64_t side = std::min(image.h, image.w);
  const std::int64_t thick = std::max<std::int64_t>(2, side / 250);
  const int scale = static_cast<int>(std::clamp<std::int64_t>(side / 250, 1, 8));
  for (std::size_t i = 0; i < annotations.size(); ++i) {
    const Rgb& c = kColours[i % (sizeof kColours / sizeof kColours[0])];
    const data::Rect& b = annotations[i].box;
    cv.fill(b.x - thick, b.y - thick, b.x + b.width + thick, b.y, c);                         // top
    cv.fill(b.x - thick, b.y + b.height, b.x + b.width + thick, b.y + b.height + thick, c);   // bottom
    cv.fill(b.x - thick, b.y, b.x, b.y + b.height, c);                                      // left
    cv.fill(b.x + b.width, b.y, b.x + b.width + thick, b.y + b.height, c);                  // right
    const std::string& label = annotations[i].label;
    const std::int64_t tw = static_cast<std::int64_t>(label.size()) * (kGlyphWidth + 1) * scale + scale;
    const std::int64_t th = (kGlyphHeight + 2) * scale;
    // Above the box when there is room, else just inside its top edge.
    const std::int64_t ty = b.y - thick - th >= 0 ? b.y - thick - th : b.y;
    const std::int64_t tx = std::clamp<std::int64_t>(b.x - thick, 0, std::max<std::int64_t>(0, image.w - tw));
    cv.fill(tx, ty, tx + tw, ty + th, c);
    cv.text(label, tx + scale, ty + scale, scale, {0, 0, 0});
  }
  return cv.px;
}

void save_annotated_png(const std::string& path, const data::GrayImage& image, const std::vector<Annotation>& annotations) {
  const auto rgb = annotate_rgb(image, annotations);
  const auto png = data::encode_png_rgb(rgb.data(), image.h, image.w);
  write_file_atomic(path, std::string(png.begin(), png.end()));
}

}  // namespace minidl::app
