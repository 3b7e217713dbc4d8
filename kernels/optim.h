// Optimiser updates with PyTorch's rules (torch.optim.SGD and torch.optim.AdamW), in place, and
// gradient clipping by the global norm (torch.nn.utils.clip_grad_norm_). Each takes every
// parameter tensor at once: one launch on a GPU, a loop on the CPU.
#pragma once

#include "minidl/base/optim_options.h"
#include "minidl/kernels/common.h"

namespace minidl::kernels {

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
