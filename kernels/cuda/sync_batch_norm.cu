// SyncBatchNorm's per-rank kernels on CUDA (kernels/sync_batch_norm.h): the channel sums in
// double, one block per channel in a fixed order (bit-reproducible), and the element-wise passes.
#include <climits>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/sync_batch_norm.h"

namespace minidl::kernels::cuda {

namespace {

constexpr int kSumThreads = 512;

__device__ __forceinline__ std::int64_t channel_index(std::int64_t i, std::int64_t c, std::int64_t hw,
                                                      std::int64_t ch) {
  const std::int64_t img = i / hw;
  return (img * c + ch) * hw + (i - img * hw);
}

// SqDev false: stats[1 + ch] = sum x. SqDev true: stats[1 + c + ch] = sum (x - mean)^2.
template <bool SqDev>
__global__ void __launch_bounds__(kSumThreads)
    sums_kernel(std::int64_t n, std::int64_t c, std::int64_t hw, const float* x, double* stats) {
  __shared__ double scratch[32];
  const std::int64_t ch = blockIdx.x, count = n * hw;
  const double mean = SqDev ? stats[1 + ch] / stats[0] : 0.0;
  double s = 0.0;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const double v = double(x[channel_index(i, c, hw, ch)]);
    s += SqDev ? (v - mean) * (v - mean) : v;
  }
  s = detail::block_sum(s, scratch);
  if (threadIdx.x == 0) {
    if (SqDev) {
      stats[1 + c + ch] = s;
    } else {
      stats[1 + ch] = s;
      if (ch == 0) stats[0] = double(count);
    }
  }
}

// One thread per channel: the saved statistics and the running ones.
__global__ void finalize_kernel(std::int64_t c, const double* stats, double eps, double momentum, float* running_mean,
                                float* running_var, float* save_mean, float* save_invstd) {
  const std::int64_t ch = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (ch >= c) return;
  const double count = stats[0], mean = stats[1 + ch] / count, var = stats[1 + c + ch] / count;
  save_mean[ch] = float(mean);
  save_invstd[ch] = float(1.0 / sqrt(var + eps));
  const double unbiased = count > 1 ? var * count / (count - 1) : var;
  if (running_mean) running_mean[ch] = float((1.0 - momentum) * running_mean[ch] + momentum * mean);
  if (running_var) running_var[ch] = float((1.0 - momentum) * running_var[ch] + momentum * unbiased);
}

__global__ void apply_kernel(std::int64_t total, std::int64_t c, std::int64_t hw, const float* x, const float* gamma,
                             const float* beta, const float* mean, const float* invstd, float* y) {
  for (std::int64_t i = detail::grid_index(); i < total; i += detail::grid_stride()) {
    const std::int64_t ch = (i / hw) % c;
    y[i] = (x[i] - mean[ch]) * (invstd[ch] * (gamma ? gamma[ch] : 1.f)) + (beta ? beta[ch] : 0.f);
  }
}

__global__ void __launch_bounds__(kSumThreads)
    grad_sums_kernel(std::int64_t n, std::int64_t c, std::int64_t hw, const float* dy, const float* x,
                     const float* mean, double* sums) {
  __shared__ double scratch[32];
  const std::int64_t ch = blockIdx.x, count = n * hw;
  const double m = double(mean[ch]);
  double a = 0.0, b = 0.0;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const std::int64_t at = channel_index(i, c, hw, ch);
    const double d = double(dy[at]);
    a += d;
    b += d * (double(x[at]) - m);
  }
  a = detail::block_sum(a, scratch);
  b = detail::block_sum(b, scratch);
  if (threadIdx.x == 0) {
    sums[ch] = a;
    sums[c + ch] = b;
  }
}

__global__ void grad_params_kernel(std::int64_t c, const float* invstd, const double* local, bool accumulate,
                                   float* dgamma, float* dbeta) {
  const std::int64_t ch = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x;
  if (ch >= c) return;
  if (dbeta) dbeta[ch] = float(local[ch] + (accumulate ? double(dbeta[ch]) : 0.0));
  if (dgamma) dgamma[ch] = float(local[c + ch] * double(invstd[ch]) + (accumulate ? double(dgamma[ch]) : 0.0));
}

template <bool Accumulate>
__global__ void grad_input_kernel(std::int64_t total, std::int64_t c, std::int64_t hw, const float* dy, const float* x,
                                  const float* gamma, const float* mean, const float* invstd, const double* global,
                                  const double* stats, float* dx) {
  const double count = stats[0];
  for (std::int64_t i = detail::grid_index(); i < total; i += detail::grid_stride()) {
    const std::int64_t ch = (i / hw) % c;
    const float istd = invstd[ch];
    const float scale = (gamma ? gamma[ch] : 1.f) * istd;
    const float dy_mean = float(global[ch] / count);
    const float proj = float(global[c + ch] * double(istd) * double(istd) / count);
    const float v = (dy[i] - dy_mean - (x[i] - mean[ch]) * proj) * scale;
    dx[i] = Accumulate ? dx[i] + v : v;
  }
}

void check_channels(const BatchNormGeometry& g) {
  MINIDL_CHECK(g.c <= INT_MAX, "sync_batch_norm (CUDA): ", g.c, " channels is more than a grid can hold");
}

// apply_kernel writes no ReLU and the backward has no forward output to mask dy by: a fused ReLU
// is refused (as by the CPU twins), not silently dropped.
void check_no_relu(const BatchNormGeometry& g, const char* kernel) {
  MINIDL_CHECK(!g.relu, kernel, ": the sync batch norm kernels have no fused ReLU (BatchNormGeometry::relu is set); "
               "apply relu to their output, as BatchNorm2d does");
}

unsigned channel_blocks(std::int64_t c) { return static_cast<unsigned>((c + kBlock - 1) / kBlock); }

}  // namespace

// One block per channel: its sum (SqDev false) or its squared deviations from the mean (true).
template <bool SqDev, typename T>
void launch_sums(Stream stream, const BatchNormGeometry& g, const T* x, double* stats) {
  check_channels(g);
  if (g.c <= 0) return;
  sums_kernel<SqDev><<<static_cast<unsigned>(g.c), kSumThreads, 0, native(stream)>>>(g.n, g.c, g.hw, x, stats);
  CUDA_LAUNCH_CHECK("sums_kernel");
}

template <typename T>
void batch_norm_sums(Stream stream, const BatchNormGeometry& g, const T* x, double* stats) {
  launch_sums<false>(stream, g, x, stats);
}

template <typename T>
void batch_norm_sq_dev(Stream stream, const BatchNormGeometry& g, const T* x, double* stats) {
  launch_sums<true>(stream, g, x, stats);
}

template <typename T>
void batch_norm_apply_stats(Stream stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta,
                            const double* stats, double eps, double momentum, T* running_mean, T* running_var,
                            T* y, T* save_mean, T* save_invstd) {
  check_no_relu(g, "batch_norm_apply_stats (CUDA)");
  check_channels(g);
  if (g.c <= 0) return;
  const cudaStream_t s = native(stream);
  finalize_kernel<<<channel_blocks(g.c), kBlock, 0, s>>>(g.c, stats, eps, momentum, running_mean, running_var,
                                                         save_mean, save_invstd);
  CUDA_LAUNCH_CHECK("finalize_kernel");
  const std::int64_t total = g.n * g.c * g.hw;
  if (total <= 0) return;
  apply_kernel<<<grid_for(total), kBlock, 0, s>>>(total, g.c, g.hw, x, gamma, beta, save_mean, save_invstd, y);
  CUDA_LAUNCH_CHECK("apply_kernel");
}

template <typename T>
void batch_norm_grad_sums(Stream stream, const BatchNormGeometry& g, const T* dy, const T* x, const T* mean, double* sums) {
  check_no_relu(g, "batch_norm_grad_sums (CUDA)");
  check_channels(g);
  if (g.c <= 0) return;
  grad_sums_kernel<<<static_cast<unsigned>(g.c), kSumThreads, 0, native(stream)>>>(g.n, g.c, g.hw, dy, x, mean, sums);
  CUDA_LAUNCH_CHECK("grad_sums_kernel");
}

template <typename T>
void batch_norm_grad_apply(Stream stream, const BatchNormGeometry& g, const T* dy, const T* x, const T* gamma,
                           const T* mean, const T* invstd, const double* local_sums, const double* global_sums,
                           const double* stats, T* dx, bool accumulate_dx, T* dgamma, T* dbeta,
                           bool accumulate_params) {
  check_no_relu(g, "batch_norm_grad_apply (CUDA)");
  check_channels(g);
  if (g.c <= 0) return;
  const cudaStream_t s = native(stream);
  if (dgamma || dbeta) {
    grad_params_kernel<<<channel_blocks(g.c), kBlock, 0, s>>>(g.c, invstd, local_sums, accumulate_params, dgamma,
                                                              dbeta);
    CUDA_LAUNCH_CHECK("grad_params_kernel");
  }
  const std::int64_t total = g.n * g.c * g.hw;
  if (!dx || total <= 0) return;
  if (accumulate_dx)
    grad_input_kernel<true><<<grid_for(total), kBlock, 0, s>>>(total, g.c, g.hw, dy, x, gamma, mean, invstd,
                                                               global_sums, stats, dx);
  else
    grad_input_kernel<false><<<grid_for(total), kBlock, 0, s>>>(total, g.c, g.hw, dy, x, gamma, mean, invstd,
                                                                global_sums, stats, dx);
  CUDA_LAUNCH_CHECK("grad_input_kernel");
}

MINIDL_INSTANTIATE_SYNC_BATCH_NORM(float)

}  // namespace minidl::kernels::cuda
