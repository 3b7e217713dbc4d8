// Image: the one image type of the data layer (8-bit, planar: c planes of h x w, row-major;
// c = 1 is grayscale, the FER model's input, hence the name GrayImage most code uses), and the
// two pixel operations every reader needs: colour to gray, and resizing to the model's input.
#pragma once

#include <cstdint>
#include <vector>

namespace minidl::data {

struct Image {
  std::int64_t h = 0;
  std::int64_t w = 0;
  std::vector<std::uint8_t> pixels;  // c * h * w: plane after plane, each row-major
  std::int64_t c = 1;                // channels (planes): 1 gray, 3 RGB

  Image() = default;
  // One gray plane.
  Image(std::int64_t height, std::int64_t width, std::uint8_t value = 0)
      : h(height), w(width), pixels(static_cast<std::size_t>(height * width), value) {}
  // `channels` planes (a named constructor: Image(3, 64, 64) would read as 3 rows).
  static Image planes(std::int64_t channels, std::int64_t height, std::int64_t width, std::uint8_t value = 0) {
    Image img(height, width);
    img.c = channels;
    img.pixels.assign(static_cast<std::size_t>(channels * height * width), value);
    return img;
  }

  // Pixel (y, x) of plane 0 (of the only plane of a gray image).
  std::uint8_t& at(std::int64_t y, std::int64_t x) { return pixels[static_cast<std::size_t>(y * w + x)]; }
  std::uint8_t at(std::int64_t y, std::int64_t x) const { return pixels[static_cast<std::size_t>(y * w + x)]; }
  std::uint8_t at(std::int64_t ch, std::int64_t y, std::int64_t x) const {
    return pixels[static_cast<std::size_t>((ch * h + y) * w + x)];
  }
  bool empty() const { return pixels.empty(); }
  // Whether pixels holds exactly c * h * w values.
  bool consistent() const { return c >= 1 && h >= 0 && w >= 0 && static_cast<std::int64_t>(pixels.size()) == c * h * w; }
};
using GrayImage = Image;

// ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B, rounded to nearest (integer arithmetic,
// so it is exact: gray inputs r = g = b come back unchanged).
inline std::uint8_t rgb_to_gray(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  return static_cast<std::uint8_t>((299u * r + 587u * g + 114u * b + 500u) / 1000u);
}

// Interleaved 8-bit pixels with 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels to
// gray. Alpha is ignored (a transparent pixel keeps its colour), as PIL's convert("L") does.
GrayImage to_gray(const std::uint8_t* data, std::int64_t h, std::int64_t w, int channels);
// Interleaved 8-bit pixels with 1 to 4 channels to three planes R, G, B (gray replicated,
// alpha ignored).
Image to_rgb_planes(const std::uint8_t* data, std::int64_t h, std::int64_t w, int channels);

// Resizes to (h, w), each axis on its own: area averaging where it shrinks (every source pixel
// counts, by the fraction of it an output pixel covers, so nothing aliases), bilinear where it
// grows (pixel centres aligned, edges clamped: PyTorch's align_corners=False). Same size is a
// copy. Results are rounded to nearest. Every plane of a multi-channel image the same way.
Image resize(const Image& src, std::int64_t h, std::int64_t w);

}  // namespace minidl::data
