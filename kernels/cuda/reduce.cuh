// Whole-buffer sums in double for the .cu files (sum, the global norm of gradient clipping),
// bit-reproducible: the grid depends on n only and every stage adds in a fixed order. Where the
// result goes is a functor, store(double total), run by one thread at the end, so the same
// reduction writes a scaled T (sum, mean) or adds into a double (a norm over many tensors).
#pragma once

#include "minidl/kernels/cuda/context.h"
#include "minidl/kernels/cuda/launch.cuh"

namespace minidl::kernels::cuda::detail {

// The summand: x, or x^2 for a sum of squares.
template <bool Square, typename T>
__device__ __forceinline__ double summand(T v) {
  return Square ? double(v) * double(v) : double(v);
}

// Stage 1: each block reduces a grid-stride slice in double into partial[block].
template <bool Square, typename T>
__global__ void sum_partial_kernel(std::int64_t n, const T* x, double* partial) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (std::int64_t i = grid_index(); i < n; i += grid_stride())
    acc += summand<Square>(x[i]);
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

template <typename Store>
__global__ void sum_final_kernel(int parts, const double* partial, Store store) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (int i = threadIdx.x; i < parts; i += blockDim.x) acc += partial[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) store(acc);
}

// One block, for small n: no second stage, no workspace.
template <bool Square, typename T, typename Store>
__global__ void sum_single_kernel(std::int64_t n, const T* x, Store store) {
  __shared__ double scratch[32];
  double acc = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += summand<Square>(x[i]);
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) store(acc);
}

// store(sum of x, or of x^2) on stream s. n == 0 stores 0.
template <bool Square, typename T, typename Store>
void reduce(std::int64_t n, const T* x, Store store, cudaStream_t s) {
  constexpr int kThreads = 1024;
  constexpr std::int64_t kPerThread = 16;
  if (n <= kThreads * kPerThread) {
    sum_single_kernel<Square, T, Store><<<1, kThreads, 0, s>>>(n, x, store);
    CUDA_LAUNCH_CHECK("sum_single_kernel");
    return;
  }
  std::int64_t parts = (n + kBlock * kPerThread - 1) / (kBlock * kPerThread);
  if (parts > 1024) parts = 1024;
  auto* partial = static_cast<double*>(context().workspace(sizeof(double) * parts));
  sum_partial_kernel<Square, T><<<static_cast<unsigned>(parts), kBlock, 0, s>>>(n, x, partial);
  CUDA_LAUNCH_CHECK("sum_partial_kernel");
  sum_final_kernel<Store><<<1, kThreads, 0, s>>>(static_cast<int>(parts), partial, store);
  CUDA_LAUNCH_CHECK("sum_final_kernel");
}

}  // namespace minidl::kernels::cuda::detail
