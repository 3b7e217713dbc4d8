// The ops' definitions as plain loops in float64, written from PyTorch's documentation and not
// from minidl's kernels: the op table's reference (op_table.h). Slow and obvious on purpose.
// Tensors are read as NCHW (or [rows, cols]) float64 values; an undefined tensor is "none".
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl::test::reference {

// F.conv2d: w is [k, c / groups, r, s]; output channel o reads the input channels of its group.
std::vector<double> conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, std::array<std::int64_t, 2> stride,
                           std::array<std::int64_t, 2> padding, std::array<std::int64_t, 2> dilation = {1, 1},
                           std::int64_t groups = 1);
std::vector<double> batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& weight, const Tensor& bias, bool training, double eps);
std::vector<double> max_pool2d(const Tensor& x, std::array<std::int64_t, 2> kernel, std::array<std::int64_t, 2> stride,
                               std::array<std::int64_t, 2> padding);
std::vector<double> adaptive_avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> out);
std::vector<double> linear(const Tensor& x, const Tensor& w, const Tensor& bias);
std::vector<double> log_softmax(const Tensor& x);  // over dim 1 of [rows, cols]

// Element by element: f applied to the values of a (and b).
template <typename F>
std::vector<double> map(const Tensor& a, F f) {
  std::vector<double> v = a.to(DType::Float64).to_vector<double>();
  for (double& x : v) x = f(x);
  return v;
}
template <typename F>
std::vector<double> map2(const Tensor& a, const Tensor& b, F f) {
  std::vector<double> v = a.to(DType::Float64).to_vector<double>();
  const std::vector<double> w = b.to(DType::Float64).to_vector<double>();
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = f(v[i], w[i]);
  return v;
}

}  // namespace minidl::test::reference
