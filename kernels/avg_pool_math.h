// One element of avg_pool2d forward and backward (kernels/pool.h), for both backends. torch's
// windows and divisors: a window may hang over the padding; with count_include_pad the divisor
// counts the padded cells it covers (not cells beyond the padding), otherwise only real cells.
// Internal to kernels/.
#pragma once

#include <cstdint>

#include "minidl/kernels/pointwise_math.h"  // MINIDL_HD
#include "minidl/kernels/pool.h"

namespace minidl::kernels::detail {

struct AvgWindow {
  std::int64_t h0, h1, w0, w1;  // the real cells [h0, h1) x [w0, w1)
  std::int64_t divisor;
};

MINIDL_HD AvgWindow avg_window(const Pool2dGeometry& g, std::int64_t oy, std::int64_t ox, bool count_include_pad) {
  std::int64_t h0 = oy * g.stride_h - g.pad_h, w0 = ox * g.stride_w - g.pad_w;
  std::int64_t h1 = h0 + g.kh < g.h + g.pad_h ? h0 + g.kh : g.h + g.pad_h;
  std::int64_t w1 = w0 + g.kw < g.w + g.pad_w ? w0 + g.kw : g.w + g.pad_w;
  const std::int64_t padded = (h1 - h0) * (w1 - w0);
  h0 = h0 < 0 ? 0 : h0;
  w0 = w0 < 0 ? 0 : w0;
  h1 = h1 > g.h ? g.h : h1;
  w1 = w1 > g.w ? g.w : w1;
  return {h0, h1, w0, w1, count_include_pad ? padded : (h1 - h0) * (w1 - w0)};
}

// Output element e of [n, c, oh, ow].
template <typename T>
MINIDL_HD void avg_pool_one(const Pool2dGeometry& g, std::int64_t e, bool count_include_pad, const T* x, T* y) {
  const std::int64_t ox = e % g.ow, oy = (e / g.ow) % g.oh, plane = e / (g.ow * g.oh);
  const AvgWindow win = avg_window(g, oy, ox, count_include_pad);
  const T* p = x + plane * g.h * g.w;
  double s = 0.0;
  for (std::int64_t i = win.h0; i < win.h1; ++i)
    for (std::int64_t j = win.w0; j < win.w1; ++j) s += static_cast<double>(p[i * g.w + j]);
  y[e] = static_cast<T>(win.divisor > 0 ? s / static_cast<double>(win.divisor) : 0.0);
}

// Input element e of [n, c, h, w]: the sum over the windows that cover it.
template <typename T>
MINIDL_HD void avg_pool_backward_one(const Pool2dGeometry& g, std::int64_t e, bool count_include_pad, const T* dy,
                                     T* dx, bool accumulate) {
  const std::int64_t ix = e % g.w, iy = (e / g.w) % g.h, plane = e / (g.w * g.h);
  // Windows oy with oy*stride - pad <= iy < oy*stride - pad + k.
  const std::int64_t ylo_num = iy + g.pad_h - g.kh + 1, xlo_num = ix + g.pad_w - g.kw + 1;
  std::int64_t oy0 = ylo_num <= 0 ? 0 : (ylo_num + g.stride_h - 1) / g.stride_h;
  std::int64_t ox0 = xlo_num <= 0 ? 0 : (xlo_num + g.stride_w - 1) / g.stride_w;
  std::int64_t oy1 = (iy + g.pad_h) / g.stride_h + 1, ox1 = (ix + g.pad_w) / g.stride_w + 1;
  oy1 = oy1 > g.oh ? g.oh : oy1;
  ox1 = ox1 > g.ow ? g.ow : ox1;
  double s = 0.0;
  for (std::int64_t oy = oy0; oy < oy1; ++oy)
    for (std::int64_t ox = ox0; ox < ox1; ++ox) {
      const AvgWindow win = avg_window(g, oy, ox, count_include_pad);
      s += static_cast<double>(dy[(plane * g.oh + oy) * g.ow + ox]) / static_cast<double>(win.divisor);
    }
  const T v = static_cast<T>(s);
  if (accumulate) dx[e] += v;
  else dx[e] = v;
}

}  // namespace minidl::kernels::detail
