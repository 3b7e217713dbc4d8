// Weight initialisation as torch.nn.init does it, drawing from minidl::default_generator().
#pragma once

#include "minidl/core/tensor.h"

namespace minidl::init {

// fan_in / fan_out of a weight [out, in, kh, kw] or [out, in].
std::int64_t fan_in(const Tensor& w);
std::int64_t fan_out(const Tensor& w);

void uniform_(const Tensor& t, double lo, double hi);
void normal_(const Tensor& t, double mean, double std);
// kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / fan_out).
void kaiming_normal_fan_out_(const Tensor& w);
// PyTorch's default for Conv2d and Linear weights: kaiming_uniform_(a=sqrt(5)), which is
// uniform(+-1/sqrt(fan_in)); and their biases: uniform(+-1/sqrt(fan_in)).
void default_weight_(const Tensor& w);
void default_bias_(const Tensor& b, std::int64_t fan_in);

}  // namespace minidl::init
