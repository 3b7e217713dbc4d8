// swish's CUDA kernels (float): one thread per element, queued on the tensor's stream, never
// synchronised (the op hands over the stream of the tensor's GPU, already made current).
#include <cuda_runtime.h>

#include <minidl/base/error.h>

#include "swish_kernels.h"

namespace custom_op {

namespace {

template <typename T>
__global__ void swish_forward_kernel(std::int64_t n, T beta, const T* x, T* y) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) y[i] = x[i] / (T(1) + exp(-beta * x[i]));
}

template <typename T>
__global__ void swish_backward_kernel(std::int64_t n, T beta, const T* dy, const T* x, T* dx, bool accumulate) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const T s = T(1) / (T(1) + exp(-beta * x[i]));
  const T g = dy[i] * (s + beta * x[i] * s * (T(1) - s));
  dx[i] = accumulate ? dx[i] + g : g;
}

constexpr int kThreads = 256;
unsigned blocks(std::int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// A launch error (no kernel image for this GPU, bad configuration) named where it happened.
void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  MINIDL_CHECK(e == cudaSuccess, what, ": CUDA launch failed: ", cudaGetErrorString(e));
}

}  // namespace

template <typename T>
void swish_forward(minidl::kernels::cuda::Stream s, std::int64_t n, T beta, const T* x, T* y) {
  if (n == 0) return;
  swish_forward_kernel<T><<<blocks(n), kThreads, 0, s.handle>>>(n, beta, x, y);
  check_launch("swish forward");
}

template <typename T>
void swish_backward(minidl::kernels::cuda::Stream s, std::int64_t n, T beta, const T* dy, const T* x, T* dx,
                    bool accumulate) {
  if (n == 0) return;
  swish_backward_kernel<T><<<blocks(n), kThreads, 0, s.handle>>>(n, beta, dy, x, dx, accumulate);
  check_launch("swish backward");
}

template void swish_forward<float>(minidl::kernels::cuda::Stream, std::int64_t, float, const float*, float*);
template void swish_backward<float>(minidl::kernels::cuda::Stream, std::int64_t, float, const float*, const float*,
                                    float*, bool);

}  // namespace custom_op
