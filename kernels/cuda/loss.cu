// log_softmax and the fused softmax cross-entropy (semantics in kernels/loss.h). One warp per
// row: the rows are short (7 classes for FER), so a block per row would leave most threads idle.
#include <cmath>

#include "minidl/kernels/cuda/context.h"
#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/loss.h"

namespace minidl::kernels::cuda {

namespace {

constexpr int kWarpsPerBlock = 8;

unsigned row_blocks(std::int64_t rows) {
  const std::int64_t b = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  return static_cast<unsigned>(b < 1 ? 1 : (b > (1 << 20) ? (1 << 20) : b));
}

// log-sum-exp of a row, computed by one warp; every lane gets it.
__device__ __forceinline__ float row_logsumexp(const float* x, std::int64_t cols, int lane) {
  float m = -INFINITY;
  for (std::int64_t j = lane; j < cols; j += 32) m = fmaxf(m, x[j]);
  m = detail::warp_max(m);
  float s = 0.f;
  for (std::int64_t j = lane; j < cols; j += 32) s += expf(x[j] - m);
  s = detail::warp_sum(s);
  return m + logf(s);
}

__global__ void log_softmax_forward_kernel(std::int64_t rows, std::int64_t cols, const float* x, float* y) {
  const int lane = threadIdx.x & 31;
  for (std::int64_t row = blockIdx.x * std::int64_t(kWarpsPerBlock) + (threadIdx.x >> 5); row < rows;
       row += std::int64_t(gridDim.x) * kWarpsPerBlock) {
    const float* xr = x + row * cols;
    const float lse = row_logsumexp(xr, cols, lane);
    for (std::int64_t j = lane; j < cols; j += 32) y[row * cols + j] = xr[j] - lse;
  }
}

template <bool Accumulate>
__global__ void log_softmax_backward_kernel(std::int64_t rows, std::int64_t cols, const float* dy, const float* y,
                                            float* dx) {
  const int lane = threadIdx.x & 31;
  for (std::int64_t row = blockIdx.x * std::int64_t(kWarpsPerBlock) + (threadIdx.x >> 5); row < rows;
       row += std::int64_t(gridDim.x) * kWarpsPerBlock) {
    const float* dyr = dy + row * cols;
    const float* yr = y + row * cols;
    float s = 0.f;
    for (std::int64_t j = lane; j < cols; j += 32) s += dyr[j];
    s = detail::warp_sum(s);
    for (std::int64_t j = lane; j < cols; j += 32) {
      const float v = dyr[j] - expf(yr[j]) * s;
      float* p = dx + row * cols + j;
      *p = Accumulate ? *p + v : v;
    }
  }
}

__device__ __forceinline__ bool valid_target(std::int64_t t, std::int64_t cols) { return t >= 0 && t < cols; }

// One block does the whole loss, so the sums over rows happen in a fixed order and the loss is
// bit-reproducible; batches are a few hundred rows, far from needing more. Each warp takes
// rows warp, warp + 32, ...: it writes the row's log-probabilities and adds, in double,
//   num += (1-e) w[y] (-logp[y]) + (e/C) sum_c w[c] (-logp[c]),   den += w[y].
__global__ void __launch_bounds__(1024)
    cross_entropy_forward_kernel(std::int64_t rows, std::int64_t cols, const float* logits, const std::int64_t* target,
                                 const float* class_weight, double smoothing, float* logp, float* loss,
                                 std::int64_t* bad_target) {
  __shared__ double scratch[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  double num = 0.0, den = 0.0;
  const double eps_c = smoothing / double(cols);
  for (std::int64_t row = warp; row < rows; row += warps) {
    const float* xr = logits + row * cols;
    float* lr = logp + row * cols;
    const float lse = row_logsumexp(xr, cols, lane);
    const std::int64_t t = target[row];
    const bool ok = valid_target(t, cols);
    if (!ok && lane == 0) *bad_target = row + 1;  // any one bad row will do
    double smooth = 0.0;
    for (std::int64_t j = lane; j < cols; j += 32) {
      const float lp = xr[j] - lse;
      lr[j] = lp;
      smooth += double(class_weight ? class_weight[j] : 1.f) * -double(lp);
    }
    if (!ok) continue;  // the caller reports the bad target; the row adds nothing
    // Every lane reads the target's log-probability from the row it just wrote (same warp).
    __syncwarp();
    if (lane == 0) {
      const double wy = class_weight ? class_weight[t] : 1.0;
      num += (1.0 - smoothing) * wy * -double(lr[t]);
      den += wy;
    }
    num += eps_c * smooth;
  }
  num = detail::block_sum(num, scratch);
  den = detail::block_sum(den, scratch);
  if (threadIdx.x == 0) *loss = float(num / den);
}

// W = sum_i w[y_i] and sum_c w[c] for the weighted backward, in one block (fixed order).
__global__ void cross_entropy_weight_sums_kernel(std::int64_t rows, std::int64_t cols, const std::int64_t* target,
                                                 const float* class_weight, double* sums) {
  __shared__ double scratch[32];
  double w_rows = 0.0, w_classes = 0.0;
  for (std::int64_t i = threadIdx.x; i < rows; i += blockDim.x)
    if (valid_target(target[i], cols)) w_rows += class_weight[target[i]];
  for (std::int64_t j = threadIdx.x; j < cols; j += blockDim.x) w_classes += class_weight[j];
  w_rows = detail::block_sum(w_rows, scratch);
  w_classes = detail::block_sum(w_classes, scratch);
  if (threadIdx.x == 0) {
    sums[0] = w_rows;
    sums[1] = w_classes;
  }
}

// dlogits[i, j] (+)= g (p[i, j] S_i - q_i[j]), with q_i[j] = ((1-e) w[y_i] [j == y_i] + (e/C) w[j]) / W
// and S_i = ((1-e) w[y_i] + (e/C) sum_c w[c]) / W. sums = {W, sum_c w[c]}, or null with no weights.
template <bool Accumulate>
__global__ void cross_entropy_backward_kernel(std::int64_t rows, std::int64_t cols, const float* logp,
                                              const std::int64_t* target, const float* class_weight, double smoothing,
                                              const double* sums, const float* grad_loss, float* dlogits) {
  const int lane = threadIdx.x & 31;
  const double W = sums ? sums[0] : double(rows);
  const double sum_w = sums ? sums[1] : double(cols);
  const double eps_c = smoothing / double(cols);
  const float g = *grad_loss;
  for (std::int64_t row = blockIdx.x * std::int64_t(kWarpsPerBlock) + (threadIdx.x >> 5); row < rows;
       row += std::int64_t(gridDim.x) * kWarpsPerBlock) {
    const std::int64_t t = target[row];
    const bool ok = valid_target(t, cols);
    const double wy = ok ? (class_weight ? double(class_weight[t]) : 1.0) : 0.0;
    const float S = ok ? float(((1.0 - smoothing) * wy + eps_c * sum_w) / W) : 0.f;
    const float hit = float((1.0 - smoothing) * wy / W);
    const float scale_c = ok ? float(eps_c / W) : 0.f;
    for (std::int64_t j = lane; j < cols; j += 32) {
      const std::int64_t at = row * cols + j;
      const float q = scale_c * (class_weight ? class_weight[j] : 1.f) + (j == t ? hit : 0.f);
      const float v = g * (expf(logp[at]) * S - q);
      dlogits[at] = Accumulate ? dlogits[at] + v : v;
    }
  }
}

}  // namespace

template <typename T>
void log_softmax_forward(Stream stream, std::int64_t rows, std::int64_t cols, const T* x, T* y) {
  if (rows <= 0 || cols <= 0) return;
  log_softmax_forward_kernel<<<row_blocks(rows), kWarpsPerBlock * 32, 0, native(stream)>>>(rows, cols, x, y);
  CUDA_LAUNCH_CHECK("log_softmax_forward_kernel");
}

template <typename T>
void log_softmax_backward(Stream stream, std::int64_t rows, std::int64_t cols, const T* dy, const T* y, T* dx,
                          bool accumulate) {
  if (rows <= 0 || cols <= 0) return;
  if (accumulate)
    log_softmax_backward_kernel<true>
        <<<row_blocks(rows), kWarpsPerBlock * 32, 0, native(stream)>>>(rows, cols, dy, y, dx);
  else
    log_softmax_backward_kernel<false>
        <<<row_blocks(rows), kWarpsPerBlock * 32, 0, native(stream)>>>(rows, cols, dy, y, dx);
  CUDA_LAUNCH_CHECK("log_softmax_backward_kernel");
}

template <typename T>
void cross_entropy_forward(Stream stream, std::int64_t rows, std::int64_t cols, const T* logits,
                           const std::int64_t* target, const T* class_weight, double label_smoothing, T* logp, T* loss,
                           std::int64_t* bad_target) {
  if (cols <= 0) return;
  // rows == 0 gives 0/0 = NaN, as PyTorch's mean over an empty batch does.
  cross_entropy_forward_kernel<<<1, 1024, 0, native(stream)>>>(rows, cols, logits, target, class_weight,
                                                               label_smoothing, logp, loss, bad_target);
  CUDA_LAUNCH_CHECK("cross_entropy_forward_kernel");
}

template <typename T>
void cross_entropy_backward(Stream stream, std::int64_t rows, std::int64_t cols, const T* logp,
                            const std::int64_t* target, const T* class_weight, double label_smoothing,
                            const T* grad_loss, T* dlogits, bool accumulate) {
  if (rows <= 0 || cols <= 0) return;
  const cudaStream_t s = native(stream);
  double* sums = nullptr;
  if (class_weight) {
    sums = static_cast<double*>(detail::context().workspace(2 * sizeof(double)));
    cross_entropy_weight_sums_kernel<<<1, 1024, 0, s>>>(rows, cols, target, class_weight, sums);
    CUDA_LAUNCH_CHECK("cross_entropy_weight_sums_kernel");
  }
  if (accumulate)
    cross_entropy_backward_kernel<true><<<row_blocks(rows), kWarpsPerBlock * 32, 0, s>>>(
        rows, cols, logp, target, class_weight, label_smoothing, sums, grad_loss, dlogits);
  else
    cross_entropy_backward_kernel<false><<<row_blocks(rows), kWarpsPerBlock * 32, 0, s>>>(
        rows, cols, logp, target, class_weight, label_smoothing, sums, grad_loss, dlogits);
  CUDA_LAUNCH_CHECK("cross_entropy_backward_kernel");
}

MINIDL_INSTANTIATE_LOSS(float)

}  // namespace minidl::kernels::cuda
