// Batch norm over the channels of NCHW tensors: our kernels, and the switch to cuDNN's.
#include <atomic>
#include <climits>

#include "minidl/base/error.h"
#include "minidl/config.h"
#include "minidl/kernels/batch_norm.h"
#include "minidl/kernels/cuda/cudnn_ops.h"
#include "minidl/kernels/cuda/launch.cuh"

namespace minidl::kernels::cuda {

namespace {

std::atomic<BatchNormImpl> g_impl{MINIDL_WITH_CUDNN ? BatchNormImpl::Cudnn : BatchNormImpl::Native};

constexpr int kStatThreads = 512;

// Element i of channel ch's n*hw values.
__device__ __forceinline__ std::int64_t channel_index(std::int64_t i, std::int64_t c, std::int64_t hw,
                                                      std::int64_t ch) {
  const std::int64_t img = i / hw;
  return (img * c + ch) * hw + (i - img * hw);
}

// relu(v) when a ReLU is fused (BatchNormGeometry::relu), as relu_forward_kernel: NaN passes.
__device__ __forceinline__ float fused_relu(bool relu, float v) { return relu && v < 0.f ? 0.f : v; }

// The upstream gradient as batch norm's backward sees it: with a fused ReLU, blocked where the
// forward's output y <= 0 (as relu_backward_kernel); mask is null without one.
__device__ __forceinline__ float masked_dy(const float* dy, const float* mask, std::int64_t at) {
  return mask && mask[at] <= 0.f ? 0.f : dy[at];
}

// One block per channel: mean, then the biased variance as the mean of squared deviations
// (two passes, in double: no cancellation), then y, the saved statistics and the running ones.
__global__ void __launch_bounds__(kStatThreads)
    bn_forward_train_kernel(std::int64_t n, std::int64_t c, std::int64_t hw, bool relu, const float* x,
                            const float* gamma, const float* beta, double eps, double momentum, float* running_mean,
                            float* running_var, float* y, float* save_mean, float* save_invstd) {
  __shared__ double scratch[32];
  const std::int64_t ch = blockIdx.x, count = n * hw;
  double s = 0.0;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) s += x[channel_index(i, c, hw, ch)];
  const double mean = detail::block_sum(s, scratch) / double(count);
  double ss = 0.0;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const double d = double(x[channel_index(i, c, hw, ch)]) - mean;
    ss += d * d;
  }
  const double var = detail::block_sum(ss, scratch) / double(count);
  const double invstd = 1.0 / sqrt(var + eps);

  const float meanf = float(mean);
  const float scale = float(invstd) * (gamma ? gamma[ch] : 1.f);
  const float shift = beta ? beta[ch] : 0.f;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const std::int64_t at = channel_index(i, c, hw, ch);
    y[at] = fused_relu(relu, (x[at] - meanf) * scale + shift);
  }
  if (threadIdx.x == 0) {
    if (save_mean) save_mean[ch] = meanf;
    if (save_invstd) save_invstd[ch] = float(invstd);
    // PyTorch updates running_var with the unbiased variance.
    const double unbiased = count > 1 ? var * double(count) / double(count - 1) : var;
    if (running_mean) running_mean[ch] = float((1.0 - momentum) * running_mean[ch] + momentum * mean);
    if (running_var) running_var[ch] = float((1.0 - momentum) * running_var[ch] + momentum * unbiased);
  }
}

__global__ void bn_forward_eval_kernel(std::int64_t total, std::int64_t c, std::int64_t hw, bool relu, const float* x,
                                       const float* gamma, const float* beta, const float* running_mean,
                                       const float* running_var, float eps, float* y) {
  for (std::int64_t i = detail::grid_index(); i < total; i += detail::grid_stride()) {
    const std::int64_t ch = (i / hw) % c;
    const float scale = rsqrtf(running_var[ch] + eps) * (gamma ? gamma[ch] : 1.f);
    y[i] = fused_relu(relu, (x[i] - running_mean[ch]) * scale + (beta ? beta[ch] : 0.f));
  }
}

// One block per channel. With xhat = (x - mean) * invstd:
//   dbeta = sum dy, dgamma = sum dy * xhat,
//   dx = gamma * invstd * (dy - dbeta / N - xhat * dgamma / N)   (training: mean, invstd depend on x)
//   dx = gamma * invstd * dy                                     (eval: they are constants)
// With a fused ReLU, dy is the masked gradient throughout (mask: the forward's output).
template <bool AccumulateDx, bool AccumulateParams>
__global__ void __launch_bounds__(kStatThreads)
    bn_backward_kernel(std::int64_t n, std::int64_t c, std::int64_t hw, bool training, const float* dy, const float* x,
                       const float* mask, const float* gamma, const float* mean, const float* invstd, float* dx,
                       float* dgamma, float* dbeta) {
  __shared__ double scratch[32];
  const std::int64_t ch = blockIdx.x, count = n * hw;
  const float m = mean[ch], inv = invstd[ch], g = gamma ? gamma[ch] : 1.f;
  double sum_dy = 0.0, sum_dy_xhat = 0.0;
  if (dgamma || dbeta || (dx && training)) {
    double a = 0.0, b = 0.0;
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      const std::int64_t at = channel_index(i, c, hw, ch);
      const float d = masked_dy(dy, mask, at);
      a += d;
      b += double(d) * double((x[at] - m) * inv);
    }
    sum_dy = detail::block_sum(a, scratch);
    sum_dy_xhat = detail::block_sum(b, scratch);
  }
  if (threadIdx.x == 0) {
    if (dgamma) dgamma[ch] = AccumulateParams ? dgamma[ch] + float(sum_dy_xhat) : float(sum_dy_xhat);
    if (dbeta) dbeta[ch] = AccumulateParams ? dbeta[ch] + float(sum_dy) : float(sum_dy);
  }
  if (!dx) return;
  const float k = g * inv;
  const float mean_dy = training ? float(sum_dy / double(count)) : 0.f;
  const float mean_dy_xhat = training ? float(sum_dy_xhat / double(count)) : 0.f;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const std::int64_t at = channel_index(i, c, hw, ch);
    const float xhat = (x[at] - m) * inv;
    const float v = k * (masked_dy(dy, mask, at) - mean_dy - xhat * mean_dy_xhat);
    dx[at] = AccumulateDx ? dx[at] + v : v;
  }
}

#if MINIDL_WITH_CUDNN
bool use_cudnn() { return g_impl.load() == BatchNormImpl::Cudnn; }
#endif

void check_channels(const BatchNormGeometry& g) {
  MINIDL_CHECK(g.c <= INT_MAX, "batch_norm (CUDA): ", g.c, " channels is more than a grid can hold");
}

}  // namespace

void set_batch_norm_impl(BatchNormImpl impl) {
  MINIDL_CHECK(impl != BatchNormImpl::Cudnn || MINIDL_WITH_CUDNN,
               "set_batch_norm_impl(Cudnn): this build of minidl has no cuDNN");
  g_impl.store(impl);
}

BatchNormImpl batch_norm_impl() { return g_impl.load(); }

template <typename T>
void batch_norm_forward_train(Stream stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta,
                              double eps, double momentum, T* running_mean, T* running_var, T* y, T* save_mean,
                              T* save_invstd) {
  if (g.c <= 0 || g.n * g.hw <= 0) return;
  check_channels(g);
#if MINIDL_WITH_CUDNN
  // cuDNN's batch norm has no fused ReLU in the layout we use (NCHW): a fused call runs ours.
  if (use_cudnn() && !g.relu && detail::cudnn_batch_norm_forward_train(g, x, gamma, beta, eps, momentum, running_mean, running_var,
                                                            y, save_mean, save_invstd, native(stream)))
    return;
#endif
  bn_forward_train_kernel<<<static_cast<unsigned>(g.c), kStatThreads, 0, native(stream)>>>(
      g.n, g.c, g.hw, g.relu, x, gamma, beta, eps, momentum, running_mean, running_var, y, save_mean, save_invstd);
  CUDA_LAUNCH_CHECK("bn_forward_train_kernel");
}

template <typename T>
void batch_norm_forward_eval(Stream stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y) {
  const std::int64_t total = g.n * g.c * g.hw;
  if (total <= 0) return;
#if MINIDL_WITH_CUDNN
  if (use_cudnn() && !g.relu &&
      detail::cudnn_batch_norm_forward_eval(g, x, gamma, beta, running_mean, running_var, eps, y, native(stream)))
    return;
#endif
  bn_forward_eval_kernel<<<grid_for(total), kBlock, 0, native(stream)>>>(total, g.c, g.hw, g.relu, x, gamma, beta,
                                                                         running_mean, running_var, float(eps), y);
  CUDA_LAUNCH_CHECK("bn_forward_eval_kernel");
}

template <typename T>
void batch_norm_backward(Stream stream, const BatchNormGeometry& g, bool training, const T* dy, const T* x, const T* y,
                         const T* gamma, const T* mean, const T* invstd, double eps, T* dx, bool accumulate_dx,
                         T* dgamma, T* dbeta, bool accumulate_params) {
  if (g.c <= 0 || (!dx && !dgamma && !dbeta)) return;
  check_channels(g);
  MINIDL_CHECK(!g.relu || y, "batch_norm backward (CUDA): a fused ReLU needs the forward's output");
  const T* mask = g.relu ? y : nullptr;
#if MINIDL_WITH_CUDNN
  if (use_cudnn() && !g.relu && detail::cudnn_batch_norm_backward(g, training, dy, x, gamma, mean, invstd, eps, dx,
                                                       accumulate_dx, dgamma, dbeta, accumulate_params,
                                                       native(stream)))
    return;
#endif
  const unsigned blocks = static_cast<unsigned>(g.c);
  const cudaStream_t s = native(stream);
  if (accumulate_dx) {
    if (accumulate_params)
      bn_backward_kernel<true, true>
          <<<blocks, kStatThreads, 0, s>>>(g.n, g.c, g.hw, training, dy, x, mask, gamma, mean, invstd, dx, dgamma, dbeta);
    else
      bn_backward_kernel<true, false>
          <<<blocks, kStatThreads, 0, s>>>(g.n, g.c, g.hw, training, dy, x, mask, gamma, mean, invstd, dx, dgamma, dbeta);
  } else {
    if (accumulate_params)
      bn_backward_kernel<false, true>
          <<<blocks, kStatThreads, 0, s>>>(g.n, g.c, g.hw, training, dy, x, mask, gamma, mean, invstd, dx, dgamma, dbeta);
    else
      bn_backward_kernel<false, false>
          <<<blocks, kStatThreads, 0, s>>>(g.n, g.c, g.hw, training, dy, x, mask, gamma, mean, invstd, dx, dgamma, dbeta);
  }
  CUDA_LAUNCH_CHECK("bn_backward_kernel");
}

MINIDL_INSTANTIATE_BATCH_NORM(float)

}  // namespace minidl::kernels::cuda
