// The gradient checker (docs/architecture.md, Tests): for an op f and float64 inputs, fill a random G and
// compare the gradient of dot(f(x), G) computed by backward against central differences, for
// every input that requires grad. Two analytic passes:
//  1. fresh gradients, with every fresh buffer pre-filled with +inf by the engine: a backward
//     kernel that leaves part of its output unwritten fails;
//  2. gradients pre-set to known values P: backward must add (P + grad), not overwrite.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/core/tensor.h"

namespace minidl::test {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-7;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
};

using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

inline double dot(const Tensor& a, const Tensor& b) {
  const double* x = a.data<double>();
  const double* y = b.data<double>();
  double s = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) s += x[i] * y[i];
  return s;
}

// Resets the fresh-buffer fill when a check ends, however it ends.
struct FreshFillScope {
  explicit FreshFillScope(double v) { set_fresh_grad_fill(v); }
  ~FreshFillScope() { set_fresh_grad_fill(std::numeric_limits<double>::quiet_NaN()); }
};

// Checks every input with requires_grad. Inputs must be float64 CPU tensors.
inline void gradcheck(const std::string& name, const OpFn& f, std::vector<Tensor> inputs,
                      const GradcheckOptions& opt = {}, std::uint64_t seed = 1234) {
  INFO("gradcheck of " << name);
  Generator gen(seed);
  Tensor probe;
  {
    NoGradGuard no_grad;
    probe = f(inputs);
  }
  const Tensor G = Tensor::randn(probe.shape(), gen, DType::Float64);

  // Pass 1: fresh gradients, buffers pre-filled with +inf.
  std::vector<Tensor> analytic(inputs.size());
  {
    FreshFillScope fill(std::numeric_limits<double>::infinity());
    for (auto& x : inputs)
      if (x.defined() && x.requires_grad()) x.set_grad(Tensor());
    f(inputs).backward(G);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
      INFO("input " << i << " " << inputs[i].str());
      REQUIRE(inputs[i].grad().defined());
      analytic[i] = inputs[i].grad().clone();
      const double* g = analytic[i].data<double>();
      for (std::int64_t j = 0; j < analytic[i].numel(); ++j) {
        INFO("element " << j);
        REQUIRE(std::isfinite(g[j]));
      }
    }
  }

  // Central differences.
  double worst = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    double* x = inputs[i].data<double>();
    const double* a = analytic[i].data<double>();
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j) {
      const double saved = x[j];
      double fp, fm;
      {
        NoGradGuard no_grad;
        x[j] = saved + opt.eps;
        fp = dot(f(inputs), G);
        x[j] = saved - opt.eps;
        fm = dot(f(inputs), G);
      }
      x[j] = saved;
      const double numeric = (fp - fm) / (2 * opt.eps);
      const double err = std::abs(a[j] - numeric);
      worst = std::max(worst, err / (opt.atol + opt.rtol * std::abs(numeric)));
      INFO("input " << i << " element " << j << ": analytic " << a[j] << " numeric " << numeric);
      REQUIRE(err <= opt.atol + opt.rtol * std::abs(numeric));
    }
  }

  // Pass 2: backward accumulates into existing gradients.
  std::vector<Tensor> prior(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    prior[i] = Tensor::randn(inputs[i].shape(), gen, DType::Float64);
    inputs[i].set_grad(prior[i].clone());
  }
  f(inputs).backward(G);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad()) continue;
    const double* g = inputs[i].grad().data<double>();
    const double* p = prior[i].data<double>();
    const double* a = analytic[i].data<double>();
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j) {
      INFO("accumulation, input " << i << " element " << j);
      REQUIRE(g[j] == Approx(p[j] + a[j]).epsilon(1e-12).margin(1e-12));
    }
    inputs[i].set_grad(Tensor());
  }
  // The worst error relative to the tolerance: 1.0 would be at the limit.
  std::printf("gradcheck %-40s worst error / tolerance = %.3g\n", name.c_str(), worst);
}

// A float64 tensor of random values that requires grad.
inline Tensor rand_input(const Shape& shape, Generator& gen, bool requires_grad = true) {
  Tensor t = Tensor::randn(shape, gen, DType::Float64);
  if (requires_grad) t.requires_grad_();
  return t;
}

// Random values at least `gap` apart from each other (so max pool has no ties near x +- eps),
// in random order, scaled to about unit size.
inline Tensor distinct_input(const Shape& shape, Generator& gen, double gap = 1e-3) {
  Tensor t = Tensor::empty(shape, DType::Float64);
  const std::int64_t n = t.numel();
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = (static_cast<double>(i) - n / 2.0) * gap * 10;
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(v[static_cast<std::size_t>(i)], v[gen.randint(static_cast<std::uint64_t>(i + 1))]);
  std::copy(v.begin(), v.end(), t.data<double>());
  t.requires_grad_();
  return t;
}

// Random values with |x| >= margin (keeps relu off its kink at 0).
inline Tensor away_from_zero(const Shape& shape, Generator& gen, double margin = 0.05) {
  Tensor t = Tensor::randn(shape, gen, DType::Float64);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    if (std::abs(p[i]) < margin) p[i] = p[i] < 0 ? -margin - std::abs(p[i]) : margin + std::abs(p[i]);
  t.requires_grad_();
  return t;
}

}  // namespace minidl::test
