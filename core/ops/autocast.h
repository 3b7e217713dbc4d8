// Internal to core/ops: how conv2d and linear apply the precision policy (core/precision.h).
// Not installed.
#pragma once

#include "minidl/core/precision.h"
#include "minidl/core/tensor.h"

namespace minidl::ops_detail {

// Whether a matrix-multiply op on x computes in bf16 now: the policy says bf16 and x is float32
// (float64 is never rounded, as in PyTorch's autocast).
bool autocast_bf16(const Tensor& x);

// A new float32 tensor holding t rounded to bf16 (no history); undefined for undefined t.
Tensor round_to_bf16(const Tensor& t);

}  // namespace minidl::ops_detail
