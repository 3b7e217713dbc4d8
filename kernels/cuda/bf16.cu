// bf16 on the GPU (kernels/bf16.h): the precision policy's rounding, and the conversion to packed
// bf16 that cuBLAS's bf16 GEMM and the bf16 convolution kernels read.
#include <climits>

#include "minidl/base/error.h"
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/cuda/launch.cuh"

namespace minidl::kernels::cuda {

namespace {

__global__ void round_to_bf16_kernel(std::int64_t n, const float* x, float* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    y[i] = kernels::round_to_bf16(x[i]);
}

__global__ void to_bfloat16_kernel(std::int64_t n, const float* x, bfloat16* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride()) y[i] = kernels::to_bfloat16(x[i]);
}

// One image's [c, hw] tile of 32 x 32 through shared memory, so that both the reads and the
// writes are consecutive along a warp (the plain element loop would stride one side by c or hw).
// The 33rd column keeps the column reads of the tile off a single shared-memory bank.
constexpr int kTile = 32, kTileRows = 8;

__global__ void to_bfloat16_channels_last_kernel(std::int64_t c, std::int64_t hw, const float* x, bfloat16* y) {
  __shared__ float tile[kTile][kTile + 1];
  const std::int64_t base = std::int64_t(blockIdx.z) * c * hw;
  const std::int64_t p0 = std::int64_t(blockIdx.x) * kTile, c0 = std::int64_t(blockIdx.y) * kTile;
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {
    const std::int64_t ch = c0 + j, p = p0 + threadIdx.x;
    if (ch < c && p < hw) tile[j][threadIdx.x] = x[base + ch * hw + p];
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {
    const std::int64_t p = p0 + j, ch = c0 + threadIdx.x;
    if (ch < c && p < hw) y[base + p * c + ch] = kernels::to_bfloat16(tile[threadIdx.x][j]);
  }
}

template <bool Accumulate>
__global__ void from_bfloat16_channels_last_kernel(std::int64_t c, std::int64_t hw, const bfloat16* y,
                                                   const float* bias, float* out) {
  __shared__ float tile[kTile][kTile + 1];
  const std::int64_t base = std::int64_t(blockIdx.z) * c * hw;
  const std::int64_t p0 = std::int64_t(blockIdx.x) * kTile, c0 = std::int64_t(blockIdx.y) * kTile;
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {
    const std::int64_t p = p0 + j, ch = c0 + threadIdx.x;
    if (ch < c && p < hw) tile[j][threadIdx.x] = kernels::to_float(y[base + p * c + ch]);
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {
    const std::int64_t ch = c0 + j, p = p0 + threadIdx.x;
    if (ch < c && p < hw) {
      const float v = bias ? tile[threadIdx.x][j] + bias[ch] : tile[threadIdx.x][j];
      float& o = out[base + ch * hw + p];
      o = Accumulate ? o + v : v;
    }
  }
}

// The grid of the two: x over pixels, y over channels, z over images.
dim3 channels_last_grid(std::int64_t n, std::int64_t c, std::int64_t hw, const char* what) {
  const std::int64_t gx = (hw + kTile - 1) / kTile, gy = (c + kTile - 1) / kTile;
  MINIDL_CHECK(gx <= INT_MAX && gy <= 65535 && n <= 65535, what, ": [", n, ", ", c, ", ", hw,
               "] is past the grid's limits (65535 images, 65535 x 32 channels)");
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(n));
}

}  // namespace

void to_bfloat16_channels_last(Stream s, std::int64_t n, std::int64_t c, std::int64_t hw, const float* x,
                               bfloat16* y) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  const dim3 grid = channels_last_grid(n, c, hw, "to_bfloat16_channels_last");
  to_bfloat16_channels_last_kernel<<<grid, dim3(kTile, kTileRows), 0, native(s)>>>(c, hw, x, y);
  CUDA_LAUNCH_CHECK("to_bfloat16_channels_last_kernel");
}

void from_bfloat16_channels_last(Stream s, std::int64_t n, std::int64_t c, std::int64_t hw, const bfloat16* y,
                                 const float* bias, float* out, bool accumulate) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  const dim3 grid = channels_last_grid(n, c, hw, "from_bfloat16_channels_last");
  if (accumulate)
    from_bfloat16_channels_last_kernel<true><<<grid, dim3(kTile, kTileRows), 0, native(s)>>>(c, hw, y, bias, out);
  else
    from_bfloat16_channels_last_kernel<false><<<grid, dim3(kTile, kTileRows), 0, native(s)>>>(c, hw, y, bias, out);
  CUDA_LAUNCH_CHECK("from_bfloat16_channels_last_kernel");
}

void round_to_bf16(Stream s, std::int64_t n, const float* x, float* y) {
  if (n <= 0) return;
  round_to_bf16_kernel<<<grid_for(n), kBlock, 0, native(s)>>>(n, x, y);
  CUDA_LAUNCH_CHECK("round_to_bf16_kernel");
}

void to_bfloat16(Stream s, std::int64_t n, const float* x, bfloat16* y) {
  if (n <= 0) return;
  to_bfloat16_kernel<<<grid_for(n), kBlock, 0, native(s)>>>(n, x, y);
  CUDA_LAUNCH_CHECK("to_bfloat16_kernel");
}

}  // namespace minidl::kernels::cuda
