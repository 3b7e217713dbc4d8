// Layers without parameters: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten (activations, ReLU
// among them, and Dropout: activation.h).
#pragma once

#include "minidl/core/ops.h"
#include "minidl/layers/activation.h"  // ReLU, for those who include this header for it
#include "minidl/layers/module.h"

namespace minidl {

class MaxPool2d : public Module {
 public:
  MaxPool2d(std::int64_t kernel_size, std::int64_t stride = 0, std::int64_t padding = 0)
      : opt_{{kernel_size, kernel_size}, {stride, stride}, {padding, padding}} {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, opt_); }
  std::string type_name() const override { return "MaxPool2d"; }

 private:
  MaxPool2dOptions opt_;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(std::int64_t kernel_size, std::int64_t stride = 0, std::int64_t padding = 0,
            bool count_include_pad = true)
      : opt_{{kernel_size, kernel_size}, {stride, stride}, {padding, padding}, count_include_pad} {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, opt_); }
  std::string type_name() const override { return "AvgPool2d"; }

 private:
  AvgPool2dOptions opt_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(std::int64_t oh, std::int64_t ow) : size_{oh, ow} {}
  Tensor forward(const Tensor& x) override { return adaptive_avg_pool2d(x, size_); }
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }

 private:
  std::array<std::int64_t, 2> size_;
};

class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1) : start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) override { return flatten(x, start_, end_); }
  std::string type_name() const override { return "Flatten"; }

 private:
  std::int64_t start_, end_;
};

}  // namespace minidl
