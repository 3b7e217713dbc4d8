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
// No fused ReLU: apply_stats, grad_sums and grad_apply throw if BatchNormGeometry::relu is set
// (the backward has no forward output to mask dy by); BatchNorm2d applies relu after them.
#pragma once

#include "minidl/kernels/batch_norm.h"

namespace minidl::kernels {

namespace cpu {
#include "minidl/kernels/sync_batch_norm_entry_points.h"
}  // namespace cpu

// On a CUDA stream: float.
namespace cuda {
#include "minidl/kernels/sync_batch_norm_entry_points.h"
}  // namespace cuda

}  // namespace minidl::kernels
