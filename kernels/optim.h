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
// g = grad + wd*p; if momentum: buf = first_step ? g : momentum*buf + (1-dampening)*g,
// g = nesterov ? g + momentum*buf : buf; p -= lr*g.
template <typename T>
void sgd_step(Stream, const ParamSlice<T>* params, int count, const SgdStepOptions& o, bool first_step);
// p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
template <typename T>
void adamw_step(Stream, const ParamSlice<T>* params, int count, const AdamWStepOptions& o);
// *norm = sqrt(sum over every span of x^2), accumulated in double in a fixed order.
template <typename T>
void total_norm(Stream, const Span<const T>* xs, int count, double* norm);
// x *= max_norm / (*norm + 1e-6) for every span when that factor is below 1; else nothing
// changes. The factor is computed where the norm lies, so a GPU never waits on the host.
template <typename T>
void clip_by_norm(Stream, const Span<T>* xs, int count, const double* norm, double max_norm);
}  // namespace cpu

namespace cuda {
template <typename T>
void sgd_step(Stream, const ParamSlice<T>* params, int count, const SgdStepOptions& o, bool first_step);
template <typename T>
void adamw_step(Stream, const ParamSlice<T>* params, int count, const AdamWStepOptions& o);
template <typename T>
void total_norm(Stream, const Span<const T>* xs, int count, double* norm);
template <typename T>
void clip_by_norm(Stream, const Span<T>* xs, int count, const double* norm, double max_norm);
}  // namespace cuda

}  // namespace minidl::kernels
