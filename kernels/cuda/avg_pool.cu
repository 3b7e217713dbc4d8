// avg_pool2d on the GPU: one thread per output (forward) or input (backward) element over the
// code shared with the CPU (avg_pool_math.h); no atomics.
#include "minidl/kernels/avg_pool_math.h"
#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/pool.h"

namespace minidl::kernels::cuda {

namespace {

template <typename T>
__global__ void avg_pool2d_forward_kernel(Pool2dGeometry g, std::int64_t n, bool count_include_pad, const T* x, T* y) {
  for (std::int64_t e = detail::grid_index(); e < n; e += detail::grid_stride())
    kernels::detail::avg_pool_one(g, e, count_include_pad, x, y);
}

template <typename T>
__global__ void avg_pool2d_backward_kernel(Pool2dGeometry g, std::int64_t n, bool count_include_pad, const T* dy, T* dx,
                                           bool accumulate) {
  for (std::int64_t e = detail::grid_index(); e < n; e += detail::grid_stride())
    kernels::detail::avg_pool_backward_one(g, e, count_include_pad, dy, dx, accumulate);
}

}  // namespace

template <typename T>
void avg_pool2d_forward(Stream s, const Pool2dGeometry& g, bool count_include_pad, const T* x, T* y) {
  const std::int64_t n = g.n * g.c * g.oh * g.ow;
  if (n <= 0) return;
  avg_pool2d_forward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(g, n, count_include_pad, x, y);
  CUDA_LAUNCH_CHECK("avg_pool2d_forward_kernel");
}

template <typename T>
void avg_pool2d_backward(Stream s, const Pool2dGeometry& g, bool count_include_pad, const T* dy, T* dx, bool accumulate) {
  const std::int64_t n = g.n * g.c * g.h * g.w;
  if (n <= 0) return;
  avg_pool2d_backward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(g, n, count_include_pad, dy, dx, accumulate);
  CUDA_LAUNCH_CHECK("avg_pool2d_backward_kernel");
}

template void avg_pool2d_forward<float>(Stream, const Pool2dGeometry&, bool, const float*, float*);
template void avg_pool2d_backward<float>(Stream, const Pool2dGeometry&, bool, const float*, float*, bool);

}  // namespace minidl::kernels::cuda
