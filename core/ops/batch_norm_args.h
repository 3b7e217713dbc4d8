// The argument checks batch_norm and sync_batch_norm share, in one place so their messages stay
// the same ("<op>: ..."). Internal to core/ops.
#pragma once

#include <vector>

#include "minidl/core/autograd.h"
#include "minidl/core/tensor.h"
#include "minidl/kernels/batch_norm.h"

namespace minidl::ops_detail {

// Checks the input ([n, c, h, w] or [n, c], floating point), the four per-channel vectors
// (each [c] or absent; running mean and variance both given or both absent) and that all of
// them share the input's device and dtype. Returns the input's geometry.
kernels::BatchNormGeometry check_batch_norm_args(const char* op, const Tensor& x, const Tensor& running_mean,
                                                 const Tensor& running_var, const Tensor& weight, const Tensor& bias);

// The accumulate flag for dgamma and dbeta (gin[1], gin[2]), which share one in the kernels.
// They are almost always fresh or accumulated together; when not, the fresh one is zeroed here
// so both can be accumulated.
bool batch_norm_params_accumulate(std::vector<GradSlot>& gin);

}  // namespace minidl::ops_detail
