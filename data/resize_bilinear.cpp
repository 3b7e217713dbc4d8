// The arithmetic of OpenCV's resize_bitExact with interpolationLinear (imgproc/src/resize.cpp,
// 4.x): per axis, source position f = scale * (d + 0.5) - 0.5 in double (scale = 1 / (dst /
// src)); i = floor(f); weights w1 = round(256 * (f - i)), w0 = 256 - w1. Outputs whose i is
// below 0 take the first source pixel, those whose i is at or past the last take the last one.
// Rows are interpolated horizontally to 8.8 fixed point, then vertically to 16.16, rounded
// half up; rows outside take the first or last row's horizontal result rounded to 8 bits.
// Compiled without floating-point contraction (CMakeLists.txt): f must round as OpenCV's
// software doubles do.
#include "minidl/data/resize_bilinear.h"

#include <cmath>
#include <vector>

#include "minidl/base/error.h"

namespace minidl::data {

namespace {

// Offsets and 8-bit weights along one axis, and the range [lo, hi) of outputs that interpolate
// (below lo: the first source pixel; from hi on: the last).
struct Axis {
  std::vector<std::int64_t> offset;
  std::vector<std::uint32_t> w0, w1;
  std::int64_t lo = 0, hi = 0;
};

Axis axis(std::int64_t src, std::int64_t dst) {
  const double scale = 1.0 / (static_cast<double>(dst) / static_cast<double>(src));
  Axis a;
  a.offset.assign(static_cast<std::size_t>(dst), 0);
  a.w0.assign(static_cast<std::size_t>(dst), 256);
  a.w1.assign(static_cast<std::size_t>(dst), 0);
  a.hi = dst;
  for (std::int64_t d = 0; d < dst; ++d) {
    const double f = scale * (static_cast<double>(d) + 0.5) - 0.5;
    const auto i = static_cast<std::int64_t>(std::floor(f));
    const auto k = static_cast<std::size_t>(d);
    if (i >= 0 && src > 1) {
      if (i < src - 1) {
        a.offset[k] = i;
        a.w1[k] = static_cast<std::uint32_t>(std::nearbyint((f - static_cast<double>(i)) * 256.0));
        a.w0[k] = 256 - a.w1[k];
      } else {
        a.offset[k] = src - 1;
        a.hi = std::min(a.hi, d);
      }
    } else {
      a.lo = std::max(a.lo, d + 1);
    }
  }
  return a;
}

}  // namespace

GrayImage resize_bilinear(const GrayImage& src, std::int64_t h, std::int64_t w) {
  MINIDL_CHECK(src.h > 0 && src.w > 0 && h > 0 && w > 0 && static_cast<std::int64_t>(src.pixels.size()) == src.h * src.w,
               "resize_bilinear: cannot resize ", src.h, "x", src.w, " to ", h, "x", w);
  if (h == src.h && w == src.w) return src;
  GrayImage dst(h, w);
  if (src.w == 2 * w && src.h == 2 * h) {  // OpenCV averages 2x2 blocks here (its INTER_AREA fast path)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        dst.at(y, x) = static_cast<std::uint8_t>((src.at(2 * y, 2 * x) + src.at(2 * y, 2 * x + 1) + src.at(2 * y + 1, 2 * x) +
                                                  src.at(2 * y + 1, 2 * x + 1) + 2) >> 2);
    return dst;
  }
  const Axis ax = axis(src.w, w), ay = axis(src.h, h);
  // One source row resized horizontally, in 8.8 fixed point.
  auto hrow = [&](std::int64_t sy, std::vector<std::uint32_t>& out) {
    const std::uint8_t* s = &src.pixels[static_cast<std::size_t>(sy * src.w)];
    for (std::int64_t x = 0; x < w; ++x) {
      const auto k = static_cast<std::size_t>(x);
      if (x < ax.lo)
        out[k] = std::uint32_t{s[0]} << 8;
      else if (x >= ax.hi)
        out[k] = std::uint32_t{s[src.w - 1]} << 8;
      else
        out[k] = ax.w0[k] * s[ax.offset[k]] + ax.w1[k] * s[ax.offset[k] + 1];
    }
  };
  std::vector<std::uint32_t> r0(static_cast<std::size_t>(w)), r1(static_cast<std::size_t>(w));
  for (std::int64_t y = 0; y < h; ++y) {
    std::uint8_t* d = &dst.pixels[static_cast<std::size_t>(y * w)];
    if (y < ay.lo || y >= ay.hi) {
      hrow(y < ay.lo ? 0 : src.h - 1, r0);
      for (std::int64_t x = 0; x < w; ++x) d[x] = static_cast<std::uint8_t>((r0[static_cast<std::size_t>(x)] + 128) >> 8);
      continue;
    }
    const auto k = static_cast<std::size_t>(y);
    hrow(ay.offset[k], r0);
    hrow(ay.offset[k] + 1, r1);
    for (std::int64_t x = 0; x < w; ++x) {
      const std::uint32_t v = ay.w0[k] * r0[static_cast<std::size_t>(x)] + ay.w1[k] * r1[static_cast<std::size_t>(x)];
      d[x] = static_cast<std::uint8_t>(std::min<std::uint32_t>((v + (1u << 15)) >> 16, 255u));
    }
  }
  return dst;
}

}  // namespace minidl::data
