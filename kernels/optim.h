// Optimiser updates with PyTorch's rules (torch.optim.SGD and torch.optim.AdamW), in place, and
// gradient clipping by the global norm (torch.nn.utils.clip_grad_norm_). Each takes every
// parameter tensor at once: one launch on a GPU, a loop on the CPU.
#pragma once

#include "minidl/base/optim_options.h"
#include "minidl/kernels/common.h"

namespace minidl::kernels {

// How many per-step numbers sgd_step and adamw_step read through their `scalars` argument: SGD's
// lr and weight_decay; AdamW's 1 - lr*weight_decay, lr / (1 - beta1^step), sqrt(1 - beta2^step).
inline constexpr int kSgdScalars = 2;
inline constexpr int kAdamWScalars = 3;

// One parameter tensor of a multi-tensor update.
template <typename T>
struct ParamSlice {
  T* param;
  const T* grad;
  T* state1;  // SGD: momentum buffer (may be null when momentum == 0); AdamW: exp_avg
  T* state2;  // AdamW: exp_avg_sq; unused by SGD
  std::int64_t n;
};

namespace cpu {
#include "minidl/kernels/optim_entry_points.h"
}  // namespace cpu

namespace cuda {
#include "minidl/kernels/optim_entry_points.h"
}  // namespace cuda

}  // namespace minidl::kernels
