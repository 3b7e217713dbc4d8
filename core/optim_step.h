// The optimiser steps of core/ops.h (sgd_step_, adamw_step_) with their per-step numbers in
// device memory: the learning rate and weight decay (AdamW: its step's bias-corrected factors)
// are written to a small float64 tensor on the parameters' device before the step and read there
// by its kernels, so that a CUDA graph of the step (core/cuda_graph.h) follows a learning-rate
// schedule and AdamW's step count from one capture (torch.optim's capturable optimisers keep
// theirs in tensors for the same reason).
#pragma once

#include <vector>

#include "minidl/core/ops.h"

namespace minidl {

// How many float64 elements the scalars tensor of sgd_step_ / adamw_step_ has.
inline constexpr int kSgdStepScalars = 2;
inline constexpr int kAdamWStepScalars = 3;

// scalars: undefined (the numbers are opt's, by value), or a float64 tensor written by
// write_sgd_scalars_ / write_adamw_scalars_: the parameters on its device read their step's
// numbers from it; parameters on another device take opt's.
void sgd_step_(const std::vector<OptimizerSlot>& slots, const SgdStepOptions& opt, bool first_step,
               const Tensor& scalars);
void adamw_step_(const std::vector<OptimizerSlot>& slots, const AdamWStepOptions& opt, const Tensor& scalars);

// Writes opt's per-step numbers into scalars, queued on its device's stream before what follows,
// without the host waiting or anything being allocated. Outside a graph capture: one would freeze
// the values written.
void write_sgd_scalars_(const Tensor& scalars, const SgdStepOptions& opt);
void write_adamw_scalars_(const Tensor& scalars, const AdamWStepOptions& opt);

}  // namespace minidl
