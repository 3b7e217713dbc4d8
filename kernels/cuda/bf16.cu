// bf16 rounding of the precision policy's operands (kernels/bf16.h), on the GPU.
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/cuda/launch.cuh"

namespace minidl::kernels::cuda {

namespace {

__global__ void round_to_bf16_kernel(std::int64_t n, const float* x, float* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    y[i] = kernels::round_to_bf16(x[i]);
}

}  // namespace

void round_to_bf16(Stream s, std::int64_t n, const float* x, float* y) {
  if (n <= 0) return;
  round_to_bf16_kernel<<<grid_for(n), kBlock, 0, native(s)>>>(n, x, y);
  CUDA_LAUNCH_CHECK("round_to_bf16_kernel");
}

}  // namespace minidl::kernels::cuda
