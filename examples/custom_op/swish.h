// A user's op: swish(x, beta) = x * sigmoid(beta * x), differentiable in x, on the CPU (float32,
// float64) and, where the installed minidl has the CUDA backend, on a GPU (float32).
#pragma once

#include <minidl/core/tensor.h>

namespace custom_op {

minidl::Tensor swish(const minidl::Tensor& x, double beta);

}  // namespace custom_op
