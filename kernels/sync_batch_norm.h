// SyncBatchNorm's kernels (PyTorch's torch.nn.SyncBatchNorm): batch norm whose statistics are
// those of the global batch, spread over the ranks of a data-parallel job. Each is one rank's
// half of a batch-norm kernel (kernels/batch_norm.h); the caller (core/ops/sync_batch_norm.cpp)
// all-reduces the per-channel sums, in float64, between them:
//
//   forward:  batch_norm_sums        local count and sum of x          -> all_reduce(sum)
//             batch_norm_sq_dev      local sum of (x - global mean)^2  -> all_reduce(sum)
//             batch_norm_apply_stats y, saved mean and invstd, running statistics
//   backward: batch_norm_grad_sums   local sum dy and sum dy (x - mean) -> all_reduce(sum) of a copy
//             batch_norm_grad_apply  dx from the global sums; dgamma, dbeta from the local ones
//
// Two passes over x for the variance (the sum of squared deviations from the global mean), so it
// does not cancel when the mean is far from zero. x, y, dy, dx: [n, c, hw]; the stats buffer is
// float64 [2c + 1]: the count (values per channel, summed over ranks), c sums, c squared deviations.
#pragma once

#include "minidl/kernels/batch_norm.h"

namespace minidl::kernels {

namespace cpu {
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
}  // namespace cpu

// The same on a CUDA stream (float).
namespace cuda {
template <typename T>
void batch_norm_sums(Stream, const BatchNormGeometry& g, const T* x, double* stats);
template <typename T>
void batch_norm_sq_dev(Stream, const BatchNormGeometry& g, const T* x, double* stats);
template <typename T>
void batch_norm_apply_stats(Stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta,
                            const double* stats, double eps, double momentum, T* running_mean, T* running_var, T* y,
                            T* save_mean, T* save_invstd);
template <typename T>
void batch_norm_grad_sums(Stream, const BatchNormGeometry& g, const T* dy, const T* x, const T* mean, double* sums);
template <typename T>
void batch_norm_grad_apply(Stream, const BatchNormGeometry& g, const T* dy, const T* x, const T* gamma, const T* mean,
                           const T* invstd, const double* local_sums, const double* global_sums, const double* stats,
                           T* dx, bool accumulate_dx, T* dgamma, T* dbeta, bool accumulate_params);
}  // namespace cuda

}  // namespace minidl::kernels
