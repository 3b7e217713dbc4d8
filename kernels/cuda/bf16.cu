// bf16 on the GPU (kernels/bf16.h): the precision policy's rounding, and the conversion to packed
// bf16 that cuBLAS's bf16 GEMM and the bf16 convolution kernels read.
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

}  // namespace

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
