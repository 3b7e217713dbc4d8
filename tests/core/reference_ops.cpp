#include "reference_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace minidl::test::reference {

namespace {
std::vector<double> vals(const Tensor& t) {
  return t.defined() ? t.detach().to(DType::Float64).to_vector<double>() : std::vector<double>{};
}
}  // namespace

std::vector<double> conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, std::array<std::int64_t, 2> stride,
                           std::array<std::int64_t, 2> padding, std::array<std::int64_t, 2> dilation,
                           std::int64_t groups) {
  const auto xv = vals(x), wv = vals(w), bv = vals(bias);
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const std::int64_t k = w.size(0), cin = w.size(1), r = w.size(2), s = w.size(3);  // cin = c / groups
  const std::int64_t kout = k / groups;                                               // outputs per group
  // PyTorch's docs: out = (in + 2 padding - dilation (kernel - 1) - 1) / stride + 1.
  const std::int64_t oh = (h + 2 * padding[0] - dilation[0] * (r - 1) - 1) / stride[0] + 1;
  const std::int64_t ow = (wd + 2 * padding[1] - dilation[1] * (s - 1) - 1) / stride[1] + 1;
  std::vector<double> y(static_cast<std::size_t>(n * k * oh * ow));
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t o = 0; o < k; ++o)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          double acc = bv.empty() ? 0.0 : bv[static_cast<std::size_t>(o)];
          const std::int64_t first = (o / kout) * cin;  // the group's first input channel
          for (std::int64_t e = 0; e < cin; ++e)
            for (std::int64_t u = 0; u < r; ++u)
              for (std::int64_t v = 0; v < s; ++v) {
                const std::int64_t yy = i * stride[0] - padding[0] + u * dilation[0];
                const std::int64_t xx = j * stride[1] - padding[1] + v * dilation[1];
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                acc += xv[static_cast<std::size_t>(((b * c + first + e) * h + yy) * wd + xx)] *
                       wv[static_cast<std::size_t>(((o * cin + e) * r + u) * s + v)];
              }
          y[static_cast<std::size_t>(((b * k + o) * oh + i) * ow + j)] = acc;
        }
  return y;
}

std::vector<double> batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& weight, const Tensor& bias, bool training, double eps) {
  const auto xv = vals(x), rm = vals(running_mean), rv = vals(running_var), g = vals(weight), b = vals(bias);
  const std::int64_t n = x.size(0), c = x.size(1);
  std::int64_t plane = 1;
  for (std::int64_t d = 2; d < x.dim(); ++d) plane *= x.size(d);
  std::vector<double> y(xv.size());
  for (std::int64_t ch = 0; ch < c; ++ch) {
    double mean = 0, var = 0;
    if (training) {
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t p = 0; p < plane; ++p) mean += xv[static_cast<std::size_t>((i * c + ch) * plane + p)];
      mean /= static_cast<double>(n * plane);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t p = 0; p < plane; ++p) {
          const double d = xv[static_cast<std::size_t>((i * c + ch) * plane + p)] - mean;
          var += d * d;
        }
      var /= static_cast<double>(n * plane);  // biased, as PyTorch normalises
    } else {
      mean = rm[static_cast<std::size_t>(ch)];
      var = rv[static_cast<std::size_t>(ch)];
    }
    const double scale = (g.empty() ? 1.0 : g[static_cast<std::size_t>(ch)]) / std::sqrt(var + eps);
    const double shift = b.empty() ? 0.0 : b[static_cast<std::size_t>(ch)];
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t p = 0; p < plane; ++p) {
        const auto at = static_cast<std::size_t>((i * c + ch) * plane + p);
        y[at] = (xv[at] - mean) * scale + shift;
      }
  }
  return y;
}

std::vector<double> max_pool2d(const Tensor& x, std::array<std::int64_t, 2> kernel, std::array<std::int64_t, 2> stride,
                               std::array<std::int64_t, 2> padding) {
  const auto xv = vals(x);
  const std::int64_t nc = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const std::int64_t oh = (h + 2 * padding[0] - kernel[0]) / stride[0] + 1;
  const std::int64_t ow = (w + 2 * padding[1] - kernel[1]) / stride[1] + 1;
  std::vector<double> y(static_cast<std::size_t>(nc * oh * ow));
  for (std::int64_t p = 0; p < nc; ++p)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        double m = -std::numeric_limits<double>::infinity();  // padding never wins
        for (std::int64_t u = 0; u < kernel[0]; ++u)
          for (std::int64_t v = 0; v < kernel[1]; ++v) {
            const std::int64_t yy = i * stride[0] - padding[0] + u, xx = j * stride[1] - padding[1] + v;
            if (yy >= 0 && yy < h && xx >= 0 && xx < w) m = std::max(m, xv[static_cast<std::size_t>((p * h + yy) * w + xx)]);
          }
        y[static_cast<std::size_t>((p * oh + i) * ow + j)] = m;
      }
  return y;
}

std::vector<double> adaptive_avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> out) {
  const auto xv = vals(x);
  const std::int64_t nc = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  std::vector<double> y(static_cast<std::size_t>(nc * out[0] * out[1]));
  // PyTorch's windows: [floor(i * h / oh), ceil((i + 1) * h / oh)).
  for (std::int64_t p = 0; p < nc; ++p)
    for (std::int64_t i = 0; i < out[0]; ++i)
      for (std::int64_t j = 0; j < out[1]; ++j) {
        const std::int64_t y0 = i * h / out[0], y1 = ((i + 1) * h + out[0] - 1) / out[0];
        const std::int64_t x0 = j * w / out[1], x1 = ((j + 1) * w + out[1] - 1) / out[1];
        double s = 0;
        for (std::int64_t yy = y0; yy < y1; ++yy)
          for (std::int64_t xx = x0; xx < x1; ++xx) s += xv[static_cast<std::size_t>((p * h + yy) * w + xx)];
        y[static_cast<std::size_t>((p * out[0] + i) * out[1] + j)] = s / static_cast<double>((y1 - y0) * (x1 - x0));
      }
  return y;
}

std::vector<double> linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const auto xv = vals(x), wv = vals(w), bv = vals(bias);
  const std::int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  std::vector<double> y(static_cast<std::size_t>(n * out));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t o = 0; o < out; ++o) {
      double acc = bv.empty() ? 0.0 : bv[static_cast<std::size_t>(o)];
      for (std::int64_t k = 0; k < in; ++k)
        acc += xv[static_cast<std::size_t>(i * in + k)] * wv[static_cast<std::size_t>(o * in + k)];
      y[static_cast<std::size_t>(i * out + o)] = acc;
    }
  return y;
}

std::vector<double> log_softmax(const Tensor& x) {
  std::vector<double> v = vals(x);
  const std::int64_t rows = x.size(0), cols = x.size(1);
  for (std::int64_t i = 0; i < rows; ++i) {
    double* r = v.data() + i * cols;
    const double m = *std::max_element(r, r + cols);
    double s = 0;
    for (std::int64_t j = 0; j < cols; ++j) s += std::exp(r[j] - m);
    const double lse = m + std::log(s);
    for (std::int64_t j = 0; j < cols; ++j) r[j] -= lse;
  }
  return v;
}

}  // namespace minidl::test::reference
