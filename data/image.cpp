#include "minidl/data/image.h"

#include <algorithm>
#include <cmath>

#include "minidl/base/error.h"

namespace minidl::data {

GrayImage to_gray(const std::uint8_t* data, std::int64_t h, std::int64_t w, int channels) {
  MINIDL_CHECK(h > 0 && w > 0, "to_gray: empty image ", h, "x", w);
  MINIDL_CHECK(channels >= 1 && channels <= 4, "to_gray: ", channels, " channels (expected 1 to 4)");
  GrayImage out(h, w);
  const std::size_t n = out.pixels.size();
  if (channels <= 2) {
    for (std::size_t i = 0; i < n; ++i) out.pixels[i] = data[i * channels];
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t* p = data + i * channels;
      out.pixels[i] = rgb_to_gray(p[0], p[1], p[2]);
    }
  }
  return out;
}

Image to_rgb_planes(const std::uint8_t* data, std::int64_t h, std::int64_t w, int channels) {
  MINIDL_CHECK(h > 0 && w > 0, "to_rgb_planes: empty image ", h, "x", w);
  MINIDL_CHECK(channels >= 1 && channels <= 4, "to_rgb_planes: ", channels, " channels (expected 1 to 4)");
  Image out = Image::planes(3, h, w);
  const std::size_t n = static_cast<std::size_t>(h * w);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = data + i * channels;
    const bool gray = channels <= 2;
    out.pixels[i] = p[0];
    out.pixels[n + i] = gray ? p[0] : p[1];
    out.pixels[2 * n + i] = gray ? p[0] : p[2];
  }
  return out;
}

namespace {

// The weights of one axis: output pixel o reads source pixels [first[o], first[o] + count[o])
// with weights[offset[o] + k].
struct AxisWeights {
  std::vector<std::int64_t> first, count, offset;
  std::vector<float> weights;
};

AxisWeights axis_weights(std::int64_t in, std::int64_t out) {
  AxisWeights a;
  a.first.resize(out);
  a.count.resize(out);
  a.offset.resize(out);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (std::int64_t o = 0; o < out; ++o) {
    a.offset[o] = static_cast<std::int64_t>(a.weights.size());
    if (in == out) {
      a.first[o] = o;
      a.count[o] = 1;
      a.weights.push_back(1.f);
    } else if (out < in) {
      // Area: output pixel o covers source interval [o*scale, (o+1)*scale).
      const double lo = o * scale, hi = (o + 1) * scale;
      const auto j0 = static_cast<std::int64_t>(std::floor(lo));
      const auto j1 = std::min<std::int64_t>(in, static_cast<std::int64_t>(std::ceil(hi)));
      a.first[o] = j0;
      a.count[o] = j1 - j0;
      for (std::int64_t j = j0; j < j1; ++j) {
        const double cover = std::min<double>(hi, j + 1) - std::max<double>(lo, j);
        a.weights.push_back(static_cast<float>(cover / scale));
      }
    } else {
      // Bilinear: the centre of output pixel o sits at source coordinate (o + 0.5)*scale - 0.5.
      double s = (o + 0.5) * scale - 0.5;
      s = std::clamp(s, 0.0, static_cast<double>(in - 1));
      const auto j0 = std::min<std::int64_t>(static_cast<std::int64_t>(std::floor(s)), in - 1);
      const double f = s - j0;
      a.first[o] = j0;
      if (f == 0.0 || j0 + 1 >= in) {
        a.count[o] = 1;
        a.weights.push_back(1.f);
      } else {
        a.count[o] = 2;
        a.weights.push_back(static_cast<float>(1.0 - f));
        a.weights.push_back(static_cast<float>(f));
      }
    }
  }
  return a;
}

}  // namespace

Image resize(const Image& src, std::int64_t h, std::int64_t w) {
  MINIDL_CHECK(h > 0 && w > 0, "resize: target size ", h, "x", w, " must be positive");
  MINIDL_CHECK(src.h > 0 && src.w > 0 && src.consistent(), "resize: source image ", src.c, "x", src.h, "x", src.w,
               " holds ", src.pixels.size(), " pixels");
  if (src.h == h && src.w == w) return src;
  if (src.c > 1) {
    Image out = Image::planes(src.c, h, w);
    const std::size_t in_plane = static_cast<std::size_t>(src.h * src.w), out_plane = static_cast<std::size_t>(h * w);
    for (std::int64_t ch = 0; ch < src.c; ++ch) {
      Image plane(src.h, src.w);
      std::copy_n(src.pixels.begin() + static_cast<std::ptrdiff_t>(ch * in_plane), in_plane, plane.pixels.begin());
      const Image r = resize(plane, h, w);
      std::copy(r.pixels.begin(), r.pixels.end(), out.pixels.begin() + static_cast<std::ptrdiff_t>(ch * out_plane));
    }
    return out;
  }
  const AxisWeights ax = axis_weights(src.w, w), ay = axis_weights(src.h, h);
  // Rows first (src.h x w), then columns, in float; rounding happens once at the end.
  std::vector<float> tmp(static_cast<std::size_t>(src.h * w));
  for (std::int64_t y = 0; y < src.h; ++y) {
    const std::uint8_t* row = src.pixels.data() + y * src.w;
    for (std::int64_t x = 0; x < w; ++x) {
      const float* wt = ax.weights.data() + ax.offset[x];
      const std::uint8_t* s = row + ax.first[x];
      float acc = 0.f;
      for (std::int64_t k = 0; k < ax.count[x]; ++k) acc += wt[k] * s[k];
      tmp[y * w + x] = acc;
    }
  }
  GrayImage out(h, w);
  for (std::int64_t y = 0; y < h; ++y) {
    const float* wt = ay.weights.data() + ay.offset[y];
    for (std::int64_t x = 0; x < w; ++x) {
      float acc = 0.f;
      for (std::int64_t k = 0; k < ay.count[y]; ++k) acc += wt[k] * tmp[(ay.first[y] + k) * w + x];
      out.pixels[y * w + x] = static_cast<std::uint8_t>(std::clamp(std::lround(acc), 0L, 255L));
    }
  }
  return out;
}

}  // namespace minidl::data
