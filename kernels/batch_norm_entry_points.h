// The entry points of kernels/batch_norm.h, the same on both devices:
// batch_norm.h includes this file twice, inside namespace cpu and inside namespace cuda, so that
// each is declared once.
// No #pragma once, on purpose; include batch_norm.h, never this file.

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
// eps: the forward's epsilon. Our kernels use only invstd; cuDNN's backward is given eps too,
// as its API asks (the same value as in the forward pass), since an engine may recompute from it.
// y: the forward's output, read only with g.relu: dy counts where y > 0 (ReLU's backward, as
// relu_backward: blocked where y <= 0); may be null otherwise.
template <typename T>
void batch_norm_backward(Stream, const BatchNormGeometry& g, bool training, const T* dy, const T* x, const T* y,
                         const T* gamma, const T* mean, const T* invstd, double eps, T* dx, bool accumulate_dx,
                         T* dgamma, T* dbeta, bool accumulate_params);

// Explicitly instantiates the entry points above for the element type T: the one list
// kernels/cpu/batch_norm.cpp and kernels/cuda/batch_norm.cu share, each naming the types it has.
#define MINIDL_INSTANTIATE_BATCH_NORM(T)                                                                               \
  template void batch_norm_forward_train<T>(Stream, const BatchNormGeometry&, const T*, const T*, const T*, double,    \
                                            double, T*, T*, T*, T*, T*);                                               \
  template void batch_norm_forward_eval<T>(Stream, const BatchNormGeometry&, const T*, const T*, const T*, const T*,   \
                                           const T*, double, T*);                                                      \
  template void batch_norm_backward<T>(Stream, const BatchNormGeometry&, bool, const T*, const T*, const T*, const T*, \
                                       const T*, const T*, double, T*, bool, T*, T*, bool);
