#include "minidl/layers/init.h"

#include <cmath>

#include "minidl/core/rng.h"

namespace minidl::init {

namespace {
std::int64_t receptive_field(const Tensor& w) {
  std::int64_t r = 1;
  for (std::int64_t d = 2; d < w.dim(); ++d) r *= w.size(d);
  return r;
}
}  // namespace

std::int64_t fan_in(const Tensor& w) {
  MINIDL_CHECK(w.dim() >= 2, "init: fan_in needs a weight with at least 2 dims, got ", shape_str(w.shape()));
  return w.size(1) * receptive_field(w);
}

std::int64_t fan_out(const Tensor& w) {
  MINIDL_CHECK(w.dim() >= 2, "init: fan_out needs a weight with at least 2 dims, got ", shape_str(w.shape()));
  return w.size(0) * receptive_field(w);
}

void uniform_(const Tensor& t, double lo, double hi) {
  t.copy_(Tensor::uniform(t.shape(), lo, hi, default_generator(), t.dtype()));
}

void normal_(const Tensor& t, double mean, double std) {
  Tensor n = Tensor::randn(t.shape(), default_generator(), DType::Float64);
  double* p = n.data<double>();
  for (std::int64_t i = 0; i < n.numel(); ++i) p[i] = mean + std * p[i];
  t.copy_(n.to(t.dtype()));
}

void kaiming_normal_fan_out_(const Tensor& w) { normal_(w, 0.0, std::sqrt(2.0 / static_cast<double>(fan_out(w)))); }

void default_weight_(const Tensor& w) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in(w)));
  uniform_(w, -bound, bound);
}

void default_bias_(const Tensor& b, std::int64_t fan_in) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  uniform_(b, -bound, bound);
}

}  // namespace minidl::init
