// Batch normalisation over the channels of an NCHW tensor (PyTorch's BatchNorm2d arithmetic).
// x, y: [n, c, hw]; gamma, beta, running_*, save_*: [c]. gamma/beta may be null (1 and 0).
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

struct BatchNormGeometry {
  std::int64_t n, c, hw;
};

namespace cpu {
// Training: normalises with the batch's mean and biased variance; saves mean and 1/sqrt(var+eps)
// for backward; if running_mean/var are non-null, updates them in place with
//   running = (1 - momentum) * running + momentum * batch_stat,
// using the unbiased variance (n*hw / (n*hw - 1)) for running_var, as PyTorch does.
template <typename T>
void batch_norm_forward_train(Stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta, double eps,
                              double momentum, T* running_mean, T* running_var, T* y, T* save_mean,
                              T* save_invstd);
// Evaluation: normalises with the running statistics.
template <typename T>
void batch_norm_forward_eval(Stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y);
// Backward. training=true: mean/invstd are the saved batch statistics and depend on x.
// training=false: mean = running_mean, invstd = 1/sqrt(running_var+eps), constants.
// dx, dgamma, dbeta may each be null (not needed); each has its own accumulate flag.
template <typename T>
void batch_norm_backward(Stream, const BatchNormGeometry& g, bool training, const T* dy, const T* x, const T* gamma,
                         const T* mean, const T* invstd, T* dx, bool accumulate_dx, T* dgamma, T* dbeta,
                         bool accumulate_params);
}  // namespace cpu

namespace cuda {
// Which implementation the CUDA batch-norm entry points use (a runtime switch, like
// set_conv_backend). Default: cuDNN when built with it, else our kernels. cuDNN cannot express
// every call (no gamma/beta, eps < 1e-5, only some gradients wanted, eval-mode backward); those
// run on our kernels whatever the switch says.
enum class BatchNormImpl { Cudnn, Native };
void set_batch_norm_impl(BatchNormImpl impl);
BatchNormImpl batch_norm_impl();

template <typename T>
void batch_norm_forward_train(Stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta,
                              double eps, double momentum, T* running_mean, T* running_var, T* y,
                              T* save_mean, T* save_invstd);
template <typename T>
void batch_norm_forward_eval(Stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y);
template <typename T>
void batch_norm_backward(Stream, const BatchNormGeometry& g, bool training, const T* dy, const T* x,
                         const T* gamma, const T* mean, const T* invstd, T* dx, bool accumulate_dx,
                         T* dgamma, T* dbeta, bool accumulate_params);
}  // namespace cuda

}  // namespace minidl::kernels
