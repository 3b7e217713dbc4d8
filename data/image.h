// GrayImage: the one image type of the data layer (8-bit grayscale, row-major), and the two
// pixel operations every reader needs: colour to gray, and resizing to the model's input.
#pragma once

#include <cstdint>
#include <vector>

namespace minidl::data {

struct GrayImage {
  std::int64_t h = 0;
  std::int64_t w = 0;
  std::vector<std::uint8_t> pixels;  // h * w, row-major

  GrayImage() = default;
  GrayImage(std::int64_t height, std::int64_t width, std::uint8_t value = 0)
      : h(height), w(width), pixels(static_cast<std::size_t>(height * width), value) {}

  std::uint8_t& at(std::int64_t y, std::int64_t x) { return pixels[static_cast<std::size_t>(y * w + x)]; }
  std::uint8_t at(std::int64_t y, std::int64_t x) const { return pixels[static_cast<std::size_t>(y * w + x)]; }
  bool empty() const { return pixels.empty(); }
};

// ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B, rounded to nearest (integer arithmetic,
// so it is exact: gray inputs r = g = b come back unchanged).
inline std::uint8_t rgb_to_gray(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  return static_cast<std::uint8_t>((299u * r + 587u * g + 114u * b + 500u) / 1000u);
}

// Interleaved 8-bit pixels with 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels to
// gray. Alpha is ignored (a transparent pixel keeps its colour), as PIL's convert("L") does.
GrayImage to_gray(const std::uint8_t* data, std::int64_t h, std::int64_t w, int channels);

// Resizes to (h, w), each axis on its own: area averaging where it shrinks (every source pixel
// counts, by the fraction of it an output pixel covers, so nothing aliases), bilinear where it
// grows (pixel centres aligned, edges clamped: PyTorch's align_corners=False). Same size is a
// copy. Results are rounded to nearest.
GrayImage resize(const GrayImage& src, std::int64_t h, std::int64_t w);

}  // namespace minidl::data
