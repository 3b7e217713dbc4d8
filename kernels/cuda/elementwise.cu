// Elementwise ops and the whole-buffer sum.
#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/cuda/reduce.cuh"
#include "minidl/kernels/elementwise.h"

namespace minidl::kernels::cuda {

namespace {

template <typename T>
__global__ void fill_kernel(std::int64_t n, T value, T* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    y[i] = value;
}

template <bool Accumulate, typename T>
__global__ void scale_kernel(std::int64_t n, T alpha, const T* x, T* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride()) {
    if (Accumulate)
      y[i] += alpha * x[i];
    else
      y[i] = alpha * x[i];
  }
}

template <typename T>
__global__ void add_kernel(std::int64_t n, const T* a, const T* b, T* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    y[i] = a[i] + b[i];
}

template <typename T>
__global__ void add_relu_kernel(std::int64_t n, const T* a, const T* b, T* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride()) {
    const T v = a[i] + b[i];
    y[i] = v > T(0) ? v : T(0);
  }
}

template <typename T>
__global__ void relu_forward_kernel(std::int64_t n, const T* x, T* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride()) {
    const T v = x[i];
    y[i] = v > T(0) ? v : T(0);
  }
}

template <bool Accumulate, typename T>
__global__ void relu_backward_kernel(std::int64_t n, const T* dy, const T* y, T* dx) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride()) {
    const T g = y[i] > T(0) ? dy[i] : T(0);
    if (Accumulate)
      dx[i] += g;
    else
      dx[i] = g;
  }
}

template <bool Accumulate, typename T>
__global__ void fill_from_scalar_kernel(std::int64_t n, const T* scalar, double alpha, T* y) {
  const T v = T(alpha * double(*scalar));
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride()) {
    if (Accumulate)
      y[i] += v;
    else
      y[i] = v;
  }
}

// sum's store: *out = alpha * total, rounded once.
template <typename T>
struct StoreScaled {
  T* out;
  double alpha;
  __device__ void operator()(double total) const { *out = T(total * alpha); }
};

}  // namespace

template <typename T>
void fill(Stream s, std::int64_t n, T value, T* y) {
  if (n <= 0) return;
  fill_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, value, y);
  CUDA_LAUNCH_CHECK("fill_kernel");
}

template <typename T>
void scale(Stream s, std::int64_t n, T alpha, const T* x, T* y, bool accumulate) {
  if (n <= 0) return;
  if (accumulate)
    scale_kernel<true, T><<<grid_for(n), kBlock, 0, native(s)>>>(n, alpha, x, y);
  else
    scale_kernel<false, T><<<grid_for(n), kBlock, 0, native(s)>>>(n, alpha, x, y);
  CUDA_LAUNCH_CHECK("scale_kernel");
}

template <typename T>
void add(Stream s, std::int64_t n, const T* a, const T* b, T* y) {
  if (n <= 0) return;
  add_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, a, b, y);
  CUDA_LAUNCH_CHECK("add_kernel");
}

template <typename T>
void add_relu(Stream s, std::int64_t n, const T* a, const T* b, T* y) {
  if (n <= 0) return;
  add_relu_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, a, b, y);
  CUDA_LAUNCH_CHECK("add_relu_kernel");
}

template <typename T>
void relu_forward(Stream s, std::int64_t n, const T* x, T* y) {
  if (n <= 0) return;
  relu_forward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, x, y);
  CUDA_LAUNCH_CHECK("relu_forward_kernel");
}

template <typename T>
void relu_backward(Stream s, std::int64_t n, const T* dy, const T* y, T* dx, bool accumulate) {
  if (n <= 0) return;
  if (accumulate)
    relu_backward_kernel<true, T><<<grid_for(n), kBlock, 0, native(s)>>>(n, dy, y, dx);
  else
    relu_backward_kernel<false, T><<<grid_for(n), kBlock, 0, native(s)>>>(n, dy, y, dx);
  CUDA_LAUNCH_CHECK("relu_backward_kernel");
}

template <typename T>
void sum(Stream s, std::int64_t n, const T* x, double alpha, T* out) {
  detail::reduce<false>(n, x, StoreScaled<T>{out, alpha}, native(s));
}

template <typename T>
void fill_from_scalar(Stream s, std::int64_t n, const T* scalar, double alpha, T* y, bool accumulate) {
  if (n <= 0) return;
  if (accumulate)
    fill_from_scalar_kernel<true, T><<<grid_for(n), kBlock, 0, native(s)>>>(n, scalar, alpha, y);
  else
    fill_from_scalar_kernel<false, T><<<grid_for(n), kBlock, 0, native(s)>>>(n, scalar, alpha, y);
  CUDA_LAUNCH_CHECK("fill_from_scalar_kernel");
}

MINIDL_INSTANTIATE_ELEMENTWISE(float)

template void fill<float>(Stream, std::int64_t, float, float*);
template void fill<double>(Stream, std::int64_t, double, double*);
template void fill<std::int64_t>(Stream, std::int64_t, std::int64_t, std::int64_t*);

}  // namespace minidl::kernels::cuda
