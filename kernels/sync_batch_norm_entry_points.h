// The entry points of kernels/sync_batch_norm.h, the same on both devices:
// sync_batch_norm.h includes this file twice, inside namespace cpu and inside namespace cuda, so that
// each is declared once.
// No #pragma once, on purpose; include sync_batch_norm.h, never this file.

// stats[0] = n * hw, stats[1 + ch] = sum of channel ch.
template <typename T>
void batch_norm_sums(Stream, const BatchNormGeometry& g, const T* x, double* stats);
// stats[1 + c + ch] = sum of (x - mean)^2 over channel ch, mean = stats[1 + ch] / stats[0].
template <typename T>
void batch_norm_sq_dev(Stream, const BatchNormGeometry& g, const T* x, double* stats);
// With mean = sum / count and the biased var = sq_dev / count of the global batch: y as batch
// norm's in training, save_mean / save_invstd for backward, and running_mean / running_var (if
// non-null) updated with momentum and the unbiased variance (count / (count - 1)), as PyTorch.
template <typename T>
void batch_norm_apply_stats(Stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta, const double* stats,
                            double eps, double momentum, T* running_mean, T* running_var, T* y, T* save_mean,
                            T* save_invstd);
// sums[ch] = sum dy, sums[c + ch] = sum dy * (x - mean) over this rank's values of channel ch.
template <typename T>
void batch_norm_grad_sums(Stream, const BatchNormGeometry& g, const T* dy, const T* x, const T* mean, double* sums);
// dx = gamma * invstd * (dy - global_dy / count - (x - mean) * invstd^2 * global_dy_xmu / count)
// (count = stats[0], the global batch's); dbeta = local sum dy, dgamma = local sum dy (x - mean)
// * invstd: each rank's share, which data-parallel training then sums over ranks (as DDP does
// with every gradient). dx, dgamma, dbeta may be null; accumulate flags as batch_norm_backward.
template <typename T>
void batch_norm_grad_apply(Stream, const BatchNormGeometry& g, const T* dy, const T* x, const T* gamma, const T* mean,
                           const T* invstd, const double* local_sums, const double* global_sums, const double* stats,
                           T* dx, bool accumulate_dx, T* dgamma, T* dbeta, bool accumulate_params);

// Explicitly instantiates the entry points above for the element type T: the one list
// kernels/cpu/sync_batch_norm.cpp and kernels/cuda/sync_batch_norm.cu share, each naming the types it has.
#define MINIDL_INSTANTIATE_SYNC_BATCH_NORM(T)                                                                          \
  template void batch_norm_sums<T>(Stream, const BatchNormGeometry&, const T*, double*);                               \
  template void batch_norm_sq_dev<T>(Stream, const BatchNormGeometry&, const T*, double*);                             \
  template void batch_norm_apply_stats<T>(Stream, const BatchNormGeometry&, const T*, const T*, const T*,              \
                                          const double*, double, double, T*, T*, T*, T*, T*);                          \
  template void batch_norm_grad_sums<T>(Stream, const BatchNormGeometry&, const T*, const T*, const T*, double*);      \
  template void batch_norm_grad_apply<T>(Stream, const BatchNormGeometry&, const T*, const T*, const T*, const T*,     \
                                         const T*, const double*, const double*, const double*, T*, bool, T*, T*,      \
                                         bool);
