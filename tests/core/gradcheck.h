// The gradient checker for the suite: core/gradcheck.h (central differences in float64, fresh
// gradients pre-filled with +inf, accumulation into existing ones) as a Catch2 check, and the
// inputs the checks draw (away from the ops' non-smooth points).
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "minidl/core/gradcheck.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/core/tensor.h"

namespace minidl::test {

using OpFn = GradcheckFn;

// The library's gradcheck (core/gradcheck.h) as a Catch2 check: fails the test with its message,
// and prints the worst error relative to its tolerance (1.0 would be at the limit).
inline void gradcheck(const std::string& name, const OpFn& f, std::vector<Tensor> inputs,
                      GradcheckOptions opt = {}, std::uint64_t seed = 1234) {
  opt.seed = seed;
  opt.raise_exception = false;
  const GradcheckResult r = minidl::gradcheck(f, std::move(inputs), opt);
  INFO("gradcheck of " << name << ": " << r.message);
  REQUIRE(r.ok);
  std::printf("gradcheck %-40s worst error / tolerance = %.3g\n", name.c_str(), r.worst);
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
