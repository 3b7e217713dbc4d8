#include "reference_nd.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace minidl::test::reference {

namespace {

using Index = std::vector<std::int64_t>;

std::vector<double> vals(const Tensor& t) { return t.detach().to(DType::Float64).to_vector<double>(); }

std::int64_t count(const Shape& s) {
  std::int64_t n = 1;
  for (const std::int64_t d : s) n *= d;
  return n;
}

Index unravel(std::int64_t i, const Shape& s) {
  Index idx(s.size());
  for (std::size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}

std::size_t ravel(const Index& idx, const Shape& s) {
  std::int64_t i = 0;
  for (std::size_t d = 0; d < s.size(); ++d) i = i * s[d] + idx[d];
  return static_cast<std::size_t>(i);
}

std::int64_t wrap(std::int64_t dim, std::size_t rank) { return dim < 0 ? dim + static_cast<std::int64_t>(rank) : dim; }

// "Two tensors are broadcastable if, iterating from the trailing dimension, the sizes are equal,
// one of them is 1, or one of them does not exist."
Shape broadcast(const Shape& a, const Shape& b) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    out[i] = x == 1 ? y : x;
  }
  return out;
}

// The element of an input of shape `s` that the output index `out` of a broadcast reads.
std::size_t broadcast_at(const Index& out, const Shape& s) {
  const std::size_t lead = out.size() - s.size();
  Index idx(s.size());
  for (std::size_t d = 0; d < s.size(); ++d) idx[d] = s[d] == 1 ? 0 : out[lead + d];
  return ravel(idx, s);
}

}  // namespace

std::vector<double> broadcast2(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
  const auto av = vals(a), bv = vals(b);
  const Shape out = broadcast(a.shape(), b.shape());
  std::vector<double> y(static_cast<std::size_t>(count(out)));
  for (std::size_t i = 0; i < y.size(); ++i) {
    const Index idx = unravel(static_cast<std::int64_t>(i), out);
    y[i] = f(av[broadcast_at(idx, a.shape())], bv[broadcast_at(idx, b.shape())]);
  }
  return y;
}

std::vector<double> where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const auto cv = vals(cond), av = vals(a), bv = vals(b);
  const Shape out = broadcast(broadcast(cond.shape(), a.shape()), b.shape());
  std::vector<double> y(static_cast<std::size_t>(count(out)));
  for (std::size_t i = 0; i < y.size(); ++i) {
    const Index idx = unravel(static_cast<std::int64_t>(i), out);
    y[i] = cv[broadcast_at(idx, cond.shape())] != 0 ? av[broadcast_at(idx, a.shape())] : bv[broadcast_at(idx, b.shape())];
  }
  return y;
}

std::vector<double> reduce(const Tensor& x, std::vector<std::int64_t> dims, Reduce how) {
  const auto v = vals(x);
  const Shape& s = x.shape();
  std::vector<bool> reduced(s.size(), dims.empty());
  for (const std::int64_t d : dims) reduced[static_cast<std::size_t>(wrap(d, s.size()))] = true;
  // The output's shape with keepdim: reduced dims of size 1. Every input element goes to the
  // output element whose index has 0 in the reduced dims; the first one seen starts the group.
  Shape out = s;
  for (std::size_t d = 0; d < s.size(); ++d)
    if (reduced[d]) out[d] = 1;
  const std::size_t n = static_cast<std::size_t>(count(out));
  std::vector<double> acc(n, 0.0), arg(n, 0.0);
  std::vector<bool> seen(n, false);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const Index idx = unravel(static_cast<std::int64_t>(i), s);
    Index o = idx;
    std::int64_t pos = 0;  // the position along the reduced dims, for argmax/argmin
    for (std::size_t d = 0; d < s.size(); ++d)
      if (reduced[d]) {
        pos = pos * s[d] + idx[d];
        o[d] = 0;
      }
    const std::size_t j = ravel(o, out);
    const bool larger = v[i] > acc[j], smaller = v[i] < acc[j];
    switch (how) {
      case Reduce::Sum:
      case Reduce::Mean:
        acc[j] += v[i];
        break;
      case Reduce::Max:
      case Reduce::Argmax:
        if (!seen[j] || larger) acc[j] = v[i], arg[j] = static_cast<double>(pos);  // ties: the first
        break;
      case Reduce::Min:
      case Reduce::Argmin:
        if (!seen[j] || smaller) acc[j] = v[i], arg[j] = static_cast<double>(pos);
        break;
    }
    seen[j] = true;
  }
  if (how == Reduce::Mean)
    for (double& a : acc) a /= static_cast<double>(v.size() / n);
  return how == Reduce::Argmax || how == Reduce::Argmin ? arg : acc;
}

std::vector<double> softmax(const Tensor& x, std::int64_t dim, bool log) {
  const auto v = vals(x);
  const Shape& s = x.shape();
  const std::size_t d = static_cast<std::size_t>(wrap(dim, s.size()));
  std::vector<double> y(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    // softmax(x)_i = exp(x_i) / sum_j exp(x_j) along dim; shifted by the largest x_j for range.
    Index idx = unravel(static_cast<std::int64_t>(i), s);
    double m = -std::numeric_limits<double>::infinity(), z = 0;
    for (idx[d] = 0; idx[d] < s[d]; ++idx[d]) m = std::max(m, v[ravel(idx, s)]);
    for (idx[d] = 0; idx[d] < s[d]; ++idx[d]) z += std::exp(v[ravel(idx, s)] - m);
    y[i] = log ? v[i] - m - std::log(z) : std::exp(v[i] - m) / z;
  }
  return y;
}

std::vector<double> matmul(const Tensor& a, const Tensor& b) {
  const auto av = vals(a), bv = vals(b);
  Shape sa = a.shape(), sb = b.shape();
  if (sa.size() == 1) sa.insert(sa.begin(), 1);
  if (sb.size() == 1) sb.push_back(1);
  const std::int64_t n = sa[sa.size() - 2], k = sa.back(), m = sb.back();
  const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  const Shape batch = broadcast(batch_a, batch_b);
  std::vector<double> y;
  for (std::int64_t q = 0; q < count(batch); ++q) {
    const Index bi = unravel(q, batch);
    const std::size_t oa = broadcast_at(bi, batch_a) * static_cast<std::size_t>(n * k);
    const std::size_t ob = broadcast_at(bi, batch_b) * static_cast<std::size_t>(k * m);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < m; ++j) {
        double acc = 0;
        for (std::int64_t t = 0; t < k; ++t) acc += av[oa + static_cast<std::size_t>(i * k + t)] * bv[ob + static_cast<std::size_t>(t * m + j)];
        y.push_back(acc);
      }
  }
  return y;
}

std::vector<double> permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  const auto v = vals(x);
  const Shape& s = x.shape();
  Shape out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = s[static_cast<std::size_t>(wrap(dims[i], s.size()))];
  std::vector<double> y(v.size());
  for (std::size_t i = 0; i < y.size(); ++i) {
    const Index o = unravel(static_cast<std::int64_t>(i), out);
    Index idx(s.size());  // output dim i is input dim dims[i]
    for (std::size_t d = 0; d < s.size(); ++d) idx[static_cast<std::size_t>(wrap(dims[d], s.size()))] = o[d];
    y[i] = v[ravel(idx, s)];
  }
  return y;
}

std::vector<double> narrow(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length) {
  const auto v = vals(x);
  const std::size_t d = static_cast<std::size_t>(wrap(dim, x.dim()));
  std::vector<double> y;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const Index idx = unravel(static_cast<std::int64_t>(i), x.shape());
    if (idx[d] >= start && idx[d] < start + length) y.push_back(v[i]);  // row-major order is kept
  }
  return y;
}

std::vector<double> select(const Tensor& x, std::int64_t dim, std::int64_t index) {
  const std::int64_t size = x.size(wrap(dim, x.dim()));
  return reference::narrow(x, dim, index < 0 ? index + size : index, 1);
}

std::vector<double> cat(const std::vector<Tensor>& xs, std::int64_t dim) {
  const std::size_t d = static_cast<std::size_t>(wrap(dim, xs[0].dim()));
  Shape out = xs[0].shape();
  out[d] = 0;
  std::vector<std::int64_t> first;  // where each input starts along d
  for (const Tensor& x : xs) {
    first.push_back(out[d]);
    out[d] += x.size(static_cast<std::int64_t>(d));
  }
  std::vector<double> y(static_cast<std::size_t>(count(out)));
  for (std::size_t i = 0; i < y.size(); ++i) {
    Index idx = unravel(static_cast<std::int64_t>(i), out);
    std::size_t t = xs.size() - 1;
    while (first[t] > idx[d]) --t;
    idx[d] -= first[t];
    y[i] = vals(xs[t])[ravel(idx, xs[t].shape())];
  }
  return y;
}

std::vector<double> stack(const std::vector<Tensor>& xs, std::int64_t dim) {
  const Shape& s = xs[0].shape();
  const std::size_t d = static_cast<std::size_t>(dim < 0 ? dim + static_cast<std::int64_t>(s.size()) + 1 : dim);
  Shape out = s;
  out.insert(out.begin() + static_cast<std::ptrdiff_t>(d), static_cast<std::int64_t>(xs.size()));
  std::vector<double> y(static_cast<std::size_t>(count(out)));
  for (std::size_t i = 0; i < y.size(); ++i) {
    Index idx = unravel(static_cast<std::int64_t>(i), out);
    const std::size_t t = static_cast<std::size_t>(idx[d]);  // the new dim picks the tensor
    idx.erase(idx.begin() + static_cast<std::ptrdiff_t>(d));
    y[i] = vals(xs[t])[ravel(idx, s)];
  }
  return y;
}

std::vector<double> expand(const Tensor& x, const Shape& shape) {
  const auto v = vals(x);
  Shape out = shape;
  const std::size_t lead = out.size() - x.shape().size();
  for (std::size_t d = lead; d < out.size(); ++d)
    if (out[d] == -1) out[d] = x.shape()[d - lead];
  std::vector<double> y(static_cast<std::size_t>(count(out)));
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = v[broadcast_at(unravel(static_cast<std::int64_t>(i), out), x.shape())];
  return y;
}

std::vector<double> index_select(const Tensor& x, std::int64_t dim, const Tensor& index) {
  const auto v = vals(x);
  const auto ix = index.to_vector<std::int64_t>();
  const std::size_t d = static_cast<std::size_t>(wrap(dim, x.dim()));
  Shape out = x.shape();
  out[d] = static_cast<std::int64_t>(ix.size());
  std::vector<double> y(static_cast<std::size_t>(count(out)));
  for (std::size_t i = 0; i < y.size(); ++i) {
    Index idx = unravel(static_cast<std::int64_t>(i), out);
    idx[d] = ix[static_cast<std::size_t>(idx[d])];
    y[i] = v[ravel(idx, x.shape())];
  }
  return y;
}

std::vector<double> gather(const Tensor& x, std::int64_t dim, const Tensor& index) {
  // out[i][j][k] = x[index[i][j][k]][j][k] for dim 0, and so on.
  const auto v = vals(x);
  const auto ix = index.to_vector<std::int64_t>();
  const std::size_t d = static_cast<std::size_t>(wrap(dim, x.dim()));
  std::vector<double> y(ix.size());
  for (std::size_t i = 0; i < y.size(); ++i) {
    Index idx = unravel(static_cast<std::int64_t>(i), index.shape());
    idx[d] = ix[i];
    y[i] = v[ravel(idx, x.shape())];
  }
  return y;
}

std::vector<double> avg_pool2d(const Tensor& x, const AvgPool2dOptions& o) {
  // The mean of each window; with count_include_pad the divisor counts the padding too (but not
  // what lies beyond it), as torch documents.
  const auto v = vals(x);
  const std::int64_t k = o.kernel_size[0], l = o.kernel_size[1];
  const std::int64_t sh = o.stride[0] ? o.stride[0] : k, sw = o.stride[1] ? o.stride[1] : l;
  const std::int64_t ph = o.padding[0], pw = o.padding[1];
  const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  const std::int64_t oh = (h + 2 * ph - k) / sh + 1, ow = (w + 2 * pw - l) / sw + 1;
  std::vector<double> y;
  for (std::int64_t q = 0; q < planes; ++q)
    for (std::int64_t i = 0; i < oh; ++i)
      for (std::int64_t j = 0; j < ow; ++j) {
        double sum = 0;
        std::int64_t real = 0, covered = 0;
        for (std::int64_t a = i * sh - ph; a < i * sh - ph + k; ++a)
          for (std::int64_t b = j * sw - pw; b < j * sw - pw + l; ++b) {
            if (a < h + ph && b < w + pw) ++covered;
            if (a < 0 || b < 0 || a >= h || b >= w) continue;
            sum += v[static_cast<std::size_t>((q * h + a) * w + b)];
            ++real;
          }
        y.push_back(sum / static_cast<double>(o.count_include_pad ? covered : real));
      }
  return y;
}

std::vector<double> cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, double smoothing,
                                  Reduction reduction) {
  // torch.nn.functional.cross_entropy: l_i = (1 - s) w[t_i] -logp[i][t_i] + (s / C) sum_c w[c]
  // -logp[i][c] (the smoothing term is weighted per class); mean is sum_i l_i / sum_i w[t_i].
  const auto lp = reference::softmax(logits, 1, true);
  const auto t = target.to_vector<std::int64_t>();
  const auto w = weight.defined() ? vals(weight) : std::vector<double>(static_cast<std::size_t>(logits.size(1)), 1.0);
  const std::int64_t rows = logits.size(0), cols = logits.size(1);
  std::vector<double> per;
  double num = 0, den = 0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const std::size_t ti = static_cast<std::size_t>(t[static_cast<std::size_t>(i)]);
    double smooth = 0;
    for (std::int64_t c = 0; c < cols; ++c) smooth += -lp[static_cast<std::size_t>(i * cols + c)] * w[static_cast<std::size_t>(c)];
    const double l = (1 - smoothing) * w[ti] * -lp[static_cast<std::size_t>(i * cols) + ti] + smoothing / cols * smooth;
    per.push_back(l);
    num += l;
    den += w[ti];
  }
  if (reduction == Reduction::None) return per;
  return {reduction == Reduction::Sum ? num : num / den};
}

}  // namespace minidl::test::reference
