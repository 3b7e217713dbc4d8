// Shared by the .cu files: launch sizes, the stream conversion, and warp/block reductions.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "minidl/kernels/common.h"
#include "minidl/kernels/cuda/check.h"

namespace minidl::kernels::cuda::detail {

constexpr int kBlock = 256;

inline cudaStream_t native(Stream s) { return s.handle; }  // CUstream_st* is cudaStream_t

// Blocks for a grid-stride loop over n items: enough to fill the GPU, few enough that each
// thread does a handful of items.
inline unsigned grid_for(std::int64_t n, int threads = kBlock) {
  const std::int64_t blocks = (n + threads - 1) / threads;
  const std::int64_t cap = std::int64_t(1) << 16;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

// A grid-stride loop's first index for this thread and its step, in 64 bits (n may pass 2^31):
//   for (std::int64_t i = grid_index(); i < n; i += grid_stride()) ...
__device__ __forceinline__ std::int64_t grid_index() { return blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; }
__device__ __forceinline__ std::int64_t grid_stride() { return std::int64_t(gridDim.x) * blockDim.x; }

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over the block, in a fixed order (so results are bit-reproducible). Every thread of the
// block must call it; every thread gets the result. `scratch` holds 32 values.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : T(0);
  return warp_sum(v);
}

}  // namespace minidl::kernels::cuda::detail

namespace minidl::kernels::cuda {
// What every kernel file launches with, named without detail::.
using detail::grid_for;
using detail::kBlock;
using detail::native;
}  // namespace minidl::kernels::cuda
