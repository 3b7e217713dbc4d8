// Elementwise ops and the whole-buffer sum.
#include "minidl/kernels/cuda/context.h"
#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/elementwise.h"

namespace minidl::kernels::cuda {

using detail::grid_for;
using detail::kBlock;
using detail::native;

namespace {

__global__ void fill_kernel(std::int64_t n, float value, float* y) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    y[i] = value;
}

template <bool Accumulate>
__global__ void scale_kernel(std::int64_t n, float alpha, const float* x, float* y) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    if (Accumulate)
      y[i] += alpha * x[i];
    else
      y[i] = alpha * x[i];
  }
}

__global__ void add_kernel(std::int64_t n, const float* a, const float* b, float* y) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    y[i] = a[i] + b[i];
}

__global__ void add_relu_kernel(std::int64_t n, const float* a, const float* b, float* y) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const float v = a[i] + b[i];
    y[i] = v > 0.f ? v : 0.f;
  }
}

__global__ void relu_forward_kernel(std::int64_t n, const float* x, float* y) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i];
    y[i] = v > 0.f ? v : 0.f;
  }
}

template <bool Accumulate>
__global__ void relu_backward_kernel(std::int64_t n, const float* dy, const float* y, float* dx) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const float g = y[i] > 0.f ? dy[i] : 0.f;
    if (Accumulate)
      dx[i] += g;
    else
      dx[i] = g;
  }
}

// The summand: x, or x^2 for the sum of squares (gradient clipping's norm).
template <bool Square>
__device__ __forceinline__ double term(float v) {
  return Square ? double(v) * double(v) : double(v);
}

// Stage 1 of the sum: each block reduces a grid-stride slice in double into partial[block].
// The grid size depends on n only, and both stages add in a fixed order: bit-reproducible.
template <bool Square>
__global__ void sum_partial_kernel(std::int64_t n, const float* x, double* partial) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    acc += term<Square>(x[i]);
  acc = detail::block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sum_final_kernel(int parts, const double* partial, float* out) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < parts; i += blockDim.x) acc += partial[i];
  acc = detail::block_sum(acc, scratch);
  if (threadIdx.x == 0) *out = static_cast<float>(acc);
}

// One block, for small n: no second stage, no workspace.
template <bool Square>
__global__ void sum_single_kernel(std::int64_t n, const float* x, float* out) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += term<Square>(x[i]);
  acc = detail::block_sum(acc, scratch);
  if (threadIdx.x == 0) *out = static_cast<float>(acc);
}

template <bool Accumulate>
__global__ void fill_from_scalar_kernel(std::int64_t n, const float* scalar, float alpha, float* y) {
  const float v = alpha * *scalar;
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    if (Accumulate)
      y[i] += v;
    else
      y[i] = v;
  }
}

}  // namespace

void fill(std::int64_t n, float value, float* y, Stream stream) {
  if (n <= 0) return;
  fill_kernel<<<grid_for(n), kBlock, 0, native(stream)>>>(n, value, y);
  CUDA_LAUNCH_CHECK("fill_kernel");
}

void scale(std::int64_t n, float alpha, const float* x, float* y, bool accumulate, Stream stream) {
  if (n <= 0) return;
  if (accumulate)
    scale_kernel<true><<<grid_for(n), kBlock, 0, native(stream)>>>(n, alpha, x, y);
  else
    scale_kernel<false><<<grid_for(n), kBlock, 0, native(stream)>>>(n, alpha, x, y);
  CUDA_LAUNCH_CHECK("scale_kernel");
}

void add(std::int64_t n, const float* a, const float* b, float* y, Stream stream) {
  if (n <= 0) return;
  add_kernel<<<grid_for(n), kBlock, 0, native(stream)>>>(n, a, b, y);
  CUDA_LAUNCH_CHECK("add_kernel");
}

void add_relu(std::int64_t n, const float* a, const float* b, float* y, Stream stream) {
  if (n <= 0) return;
  add_relu_kernel<<<grid_for(n), kBlock, 0, native(stream)>>>(n, a, b, y);
  CUDA_LAUNCH_CHECK("add_relu_kernel");
}

void relu_forward(std::int64_t n, const float* x, float* y, Stream stream) {
  if (n <= 0) return;
  relu_forward_kernel<<<grid_for(n), kBlock, 0, native(stream)>>>(n, x, y);
  CUDA_LAUNCH_CHECK("relu_forward_kernel");
}

void relu_backward(std::int64_t n, const float* dy, const float* y, float* dx, bool accumulate, Stream stream) {
  if (n <= 0) return;
  if (accumulate)
    relu_backward_kernel<true><<<grid_for(n), kBlock, 0, native(stream)>>>(n, dy, y, dx);
  else
    relu_backward_kernel<false><<<grid_for(n), kBlock, 0, native(stream)>>>(n, dy, y, dx);
  CUDA_LAUNCH_CHECK("relu_backward_kernel");
}

namespace {
template <bool Square>
void reduce(std::int64_t n, const float* x, float* out, Stream stream) {
  constexpr int kThreads = 1024;
  constexpr std::int64_t kPerThread = 16;
  if (n <= kThreads * kPerThread) {
    // n == 0 lands here too and writes 0.
    sum_single_kernel<Square><<<1, kThreads, 0, native(stream)>>>(n, x, out);
    CUDA_LAUNCH_CHECK("sum_single_kernel");
    return;
  }
  std::int64_t parts = (n + kBlock * kPerThread - 1) / (kBlock * kPerThread);
  if (parts > 1024) parts = 1024;
  auto* partial = static_cast<double*>(detail::context().workspace(sizeof(double) * parts));
  sum_partial_kernel<Square><<<static_cast<unsigned>(parts), kBlock, 0, native(stream)>>>(n, x, partial);
  CUDA_LAUNCH_CHECK("sum_partial_kernel");
  sum_final_kernel<<<1, kThreads, 0, native(stream)>>>(static_cast<int>(parts), partial, out);
  CUDA_LAUNCH_CHECK("sum_final_kernel");
}
}  // namespace

void sum(std::int64_t n, const float* x, float* out, Stream stream) { reduce<false>(n, x, out, stream); }

void sum_squares(std::int64_t n, const float* x, float* out, Stream stream) { reduce<true>(n, x, out, stream); }

void fill_from_scalar(std::int64_t n, const float* scalar, float alpha, float* y, bool accumulate, Stream stream) {
  if (n <= 0) return;
  if (accumulate)
    fill_from_scalar_kernel<true><<<grid_for(n), kBlock, 0, native(stream)>>>(n, scalar, alpha, y);
  else
    fill_from_scalar_kernel<false><<<grid_for(n), kBlock, 0, native(stream)>>>(n, scalar, alpha, y);
  CUDA_LAUNCH_CHECK("fill_from_scalar_kernel");
}

}  // namespace minidl::kernels::cuda
