// The op API: the one place that looks at a tensor's device and dtype, checks shapes, picks
// the kernel and records the autograd node. Names and semantics follow torch.nn.functional.
// Every op checks its inputs and throws minidl::Error naming the op and the offending shapes.
#pragma once

#include <array>
#include <cstdint>

#include "minidl/base/optim_options.h"
#include "minidl/core/tensor.h"

namespace minidl {

namespace dist {
class ProcessGroup;
}

// ----- convolution, normalisation, pooling -----
struct Conv2dOptions {
  std::array<std::int64_t, 2> stride{1, 1};
  std::array<std::int64_t, 2> padding{0, 0};
};
// x [n, c, h, w], weight [k, c, r, s], bias [k] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv2dOptions& opt = {});

// x [n, c, h, w] (or [n, c]); weight/bias [c] or undefined; running_mean/var [c] or undefined.
// training: normalise with batch statistics and update the running ones in place (momentum as
// in PyTorch); otherwise normalise with the running statistics. The caller passes the mode.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

// batch_norm in training mode with the statistics of the global batch: every rank of `group`
// calls it with its own part of the batch (PyTorch's SyncBatchNorm). The per-channel sums are
// all-reduced in float64 in forward (count, sum, then squared deviations) and in backward (sum dy,
// sum dy (x - mean)). weight/bias gradients are this rank's share; data-parallel training sums
// them over ranks with every other gradient. Needs running statistics or none, like batch_norm.
Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, dist::ProcessGroup& group, double momentum = 0.1, double eps = 1e-5);

struct MaxPool2dOptions {
  std::array<std::int64_t, 2> kernel_size{2, 2};
  std::array<std::int64_t, 2> stride{0, 0};  // 0: same as kernel_size
  std::array<std::int64_t, 2> padding{0, 0};
};
Tensor max_pool2d(const Tensor& x, const MaxPool2dOptions& opt);
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> output_size);

// ----- dense -----
// x [batch, in], weight [out, in], bias [out] or undefined: x weight^T + bias.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ----- elementwise -----
Tensor relu(const Tensor& x);
Tensor add(const Tensor& a, const Tensor& b);  // same shapes
// relu(a + b) in one pass: the residual join of a BasicBlock.
Tensor add_relu(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& x, double alpha);
// In place, no autograd: dst += src (same shape). Used by the engine and optimisers.
void add_(const Tensor& dst, const Tensor& src);

// ----- reductions -----
Tensor sum(const Tensor& x);   // all elements -> one-element tensor of shape []
Tensor mean(const Tensor& x);

// ----- shape -----
// Merges dims start_dim .. end_dim into one (a view).
Tensor flatten(const Tensor& x, std::int64_t start_dim = 1, std::int64_t end_dim = -1);

// ----- classification -----
// log_softmax over dim 1 of a [rows, cols] tensor.
Tensor log_softmax(const Tensor& x, std::int64_t dim = 1);
struct CrossEntropyOptions {
  Tensor weight;               // [classes] or undefined
  double label_smoothing = 0;  // in [0, 1]
};
// logits [batch, classes], target int64 [batch]: mean loss, PyTorch's semantics.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opt = {});

// Index of the largest value in each row of [rows, cols] (int64 [rows]); no autograd.
Tensor argmax(const Tensor& x);

// ----- optimiser updates and gradient clipping: in place, no autograd -----
// One parameter of an update: its gradient and its state buffers (SGD: state1 = momentum buffer,
// undefined without momentum; AdamW: state1 = exp_avg, state2 = exp_avg_sq), all its shape.
struct OptimizerSlot {
  Tensor param, grad, state1, state2;
};
// Every parameter in one call, with PyTorch's rules (kernels/optim.h): one kernel launch per
// device and dtype on a GPU, the parameters in order on the CPU.
void sgd_step_(const std::vector<OptimizerSlot>& slots, const SgdOptions& opt, bool first_step);
void adamw_step_(const std::vector<OptimizerSlot>& slots, const AdamWOptions& opt);

// The L2 norm of all the tensors together, as one vector (torch.nn.utils.get_total_norm): a
// float64 [] tensor on their device, computed there, so nothing is read back to the host.
Tensor get_total_norm(const std::vector<Tensor>& tensors);
// Scales the tensors by max_norm / (total_norm + 1e-6) when that is below 1
// (torch.nn.utils.clip_grads_with_norm_); the factor is computed on the device from total_norm.
void clip_grads_with_norm_(const std::vector<Tensor>& tensors, double max_norm, const Tensor& total_norm);

}  // namespace minidl
