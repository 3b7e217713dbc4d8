// The op API: the one place that looks at a tensor's device and dtype, checks shapes, picks
// the kernel and records the autograd node. Names and semantics follow torch.nn.functional.
// Every op checks its inputs and throws minidl::Error naming the op and the offending shapes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "minidl/base/optim_options.h"
#include "minidl/core/tensor.h"

namespace minidl {

class Generator;
namespace dist {
class ProcessGroup;
}

// ----- convolution, normalisation, pooling -----
struct Conv2dOptions {
  std::array<std::int64_t, 2> stride{1, 1};
  std::array<std::int64_t, 2> padding{0, 0};
  std::array<std::int64_t, 2> dilation{1, 1};
  std::int64_t groups = 1;
};
// x [n, c, h, w], weight [k, c / groups, r, s], bias [k] or undefined, as F.conv2d: groups
// divides c and k (groups == c: depthwise); output size per dimension
// (size + 2 padding - dilation (kernel - 1) - 1) / stride + 1.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const Conv2dOptions& opt = {});

// x [n, c, h, w] (or [n, c]); weight/bias [c] or undefined; running_mean/var [c] or undefined.
// training: normalise with batch statistics and update the running ones in place (momentum as
// in PyTorch); otherwise normalise with the running statistics. The caller passes the mode.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
// relu(batch_norm(...)) with the same arguments, in one pass over the data forward and ReLU's
// backward folded into batch norm's (ResNet's bn + relu): the same numbers, bit for bit, with one
// output tensor and two passes fewer. Its backward keeps the output (as relu does) as the mask.
Tensor batch_norm_relu(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
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
struct AvgPool2dOptions {
  std::array<std::int64_t, 2> kernel_size{2, 2};
  std::array<std::int64_t, 2> stride{0, 0};  // 0: same as kernel_size
  std::array<std::int64_t, 2> padding{0, 0};
  bool count_include_pad = true;  // torch's default (ceil_mode and divisor_override: not supported)
};
Tensor avg_pool2d(const Tensor& x, const AvgPool2dOptions& opt);
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> output_size);

// ----- dense -----
// x [batch, in], weight [out, in], bias [out] or undefined: x weight^T + bias.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ----- elementwise -----
Tensor relu(const Tensor& x);
// relu(a + b) in one pass: the residual join of a BasicBlock.
Tensor add_relu(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& x, double alpha);
// One input, torch's names and derivatives (gelu is the exact erf form; clamp passes the
// gradient where min <= x <= max; abs has gradient 0 at 0; pow(x, e) has gradient 0 when e == 0).
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor gelu(const Tensor& x);
Tensor silu(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max = std::nullopt);
// Two inputs with torch's broadcasting (a broadcast input is expanded to the output's shape
// first: a copy; its gradient is summed back to its shape).
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
// Comparisons, broadcasting: 1 where true, 0 where false, in the inputs' dtype (torch returns
// bool; minidl has no bool dtype). No gradient.
Tensor gt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
// With a scalar.
Tensor add(const Tensor& x, double c);
Tensor sub(const Tensor& x, double c);
Tensor sub(double c, const Tensor& x);
Tensor div(const Tensor& x, double c);
Tensor div(double c, const Tensor& x);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& x, double c);
Tensor operator+(double c, const Tensor& x);
Tensor operator-(const Tensor& x, double c);
Tensor operator-(double c, const Tensor& x);
Tensor operator*(const Tensor& x, double c);
Tensor operator*(double c, const Tensor& x);
Tensor operator/(const Tensor& x, double c);
Tensor operator/(double c, const Tensor& x);
// cond ? a : b, broadcasting all three; cond is a mask in the inputs' dtype (nonzero = true, as
// gt() and friends make it). Gradients flow to a and b, not to cond.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// Training: zeroes each element with probability p and scales the rest by 1/(1-p); otherwise
// (or p == 0) returns x itself. The mask is drawn from gen (default: default_generator()), one
// 64-bit draw per call, hashed per element: the same on the CPU and on a GPU.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);
// In place, no autograd: dst += src (same shape). Used by the engine and optimisers.
void add_(const Tensor& dst, const Tensor& src);

// ----- reductions -----
Tensor sum(const Tensor& x);   // all elements -> one-element tensor of shape []
Tensor mean(const Tensor& x);
// Over the given dims (all when the list is empty), accumulating in double.
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor sum(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x, std::int64_t dim, bool keepdim = false);
// (values, int64 indices) over one dim, the first index of the extreme; a NaN wins, as in torch.
// The gradient goes to that one index.
std::tuple<Tensor, Tensor> max(const Tensor& x, std::int64_t dim, bool keepdim = false);
std::tuple<Tensor, Tensor> min(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements -> []
Tensor min(const Tensor& x);
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false);  // int64; no autograd
Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim = false);

// ----- shape -----
// Merges dims start_dim .. end_dim into one (a view).
Tensor flatten(const Tensor& x, std::int64_t start_dim = 1, std::int64_t end_dim = -1);
// Differentiable; negative dims count from the end. Tensors stay contiguous, so permute,
// transpose, expand, narrow, select and cat return copies (torch returns views); unsqueeze and
// squeeze are views (reshape). At most 8 dimensions.
Tensor expand(const Tensor& x, const Shape& shape);  // torch's expand / broadcast_to; -1 keeps a size
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims);
Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1);
Tensor unsqueeze(const Tensor& x, std::int64_t dim);
Tensor squeeze(const Tensor& x);                    // every dimension of size 1
Tensor squeeze(const Tensor& x, std::int64_t dim);  // that one, if its size is 1
Tensor narrow(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length);
Tensor select(const Tensor& x, std::int64_t dim, std::int64_t index);
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim = 0);
// index int64 [k]: the entries index[j] of dim. Gradients of repeated entries add up.
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);
// index int64 of x's shape except in dim: out[.., j, ..] = x[.., index[.., j, ..], ..].
Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);

// ----- matrix products -----
// torch.matmul: 1-d, 2-d and batched (broadcast batch dims) operands.
Tensor matmul(const Tensor& a, const Tensor& b);

// ----- classification -----
// Over any dim (dim 1 of a [rows, cols] tensor runs the classifier's row kernel).
Tensor log_softmax(const Tensor& x, std::int64_t dim = 1);
Tensor softmax(const Tensor& x, std::int64_t dim);
enum class Reduction { None, Mean, Sum };
struct CrossEntropyOptions {
  Tensor weight;               // [classes] or undefined
  double label_smoothing = 0;  // in [0, 1]
  Reduction reduction = Reduction::Mean;
};
// logits [batch, classes], target int64 [batch]: PyTorch's semantics. Mean: one fused kernel
// (the weighted mean divides by the targets' total weight); none ([batch]) and sum are composed
// of log_softmax, gather and index_select.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opt = {});

// Index of the largest value in each row of [rows, cols] (int64 [rows]), computed on the host;
// no autograd. (torch's argmax(x) with no dim flattens; argmax(x, dim) above is torch's.)
Tensor argmax(const Tensor& x);

// ----- optimiser updates and gradient clipping: in place, no autograd -----
// One parameter of an update: its gradient and its state buffers (SGD: state1 = momentum buffer,
// undefined without momentum; AdamW: state1 = exp_avg, state2 = exp_avg_sq), all its shape.
struct OptimizerSlot {
  Tensor param, grad, state1, state2;
};
// Every parameter in one call, with PyTorch's rules (kernels/optim.h): one kernel launch per
// device and dtype on a GPU, the parameters in order on the CPU.
void sgd_step_(const std::vector<OptimizerSlot>& slots, const SgdStepOptions& opt, bool first_step);
void adamw_step_(const std::vector<OptimizerSlot>& slots, const AdamWStepOptions& opt);

// The L2 norm of all the tensors together, as one vector (torch.nn.utils.get_total_norm): a
// float64 [] tensor on their device, computed there, so nothing is read back to the host.
Tensor get_total_norm(const std::vector<Tensor>& tensors);
// Scales the tensors by max_norm / (total_norm + 1e-6) when that is below 1
// (torch.nn.utils.clip_grads_with_norm_); the factor is computed on the device from total_norm.
void clip_grads_with_norm_(const std::vector<Tensor>& tensors, double max_norm, const Tensor& total_norm);

}  // namespace minidl
