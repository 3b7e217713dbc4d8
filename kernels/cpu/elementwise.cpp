// Elementwise ops and whole-buffer reductions. Each loop is `parallel for simd`: OpenMP splits
// large buffers across threads and the compiler vectorises each thread's share; small buffers
// stay on the calling thread (see kParallelGrain).
#include "minidl/kernels/elementwise.h"

#include <algorithm>

#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

using detail::kParallelGrain;

template <typename T>
void fill(Stream, std::int64_t n, T value, T* y) {
  MINIDL_CPU_PROFILE("fill");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = value;
}

template <typename T>
void scale(Stream, std::int64_t n, T alpha, const T* x, T* y, bool accumulate) {
  MINIDL_CPU_PROFILE("scale");
  if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
  } else {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) y[i] = alpha * x[i];
  }
}

template <typename T>
void add(Stream, std::int64_t n, const T* a, const T* b, T* y) {
  MINIDL_CPU_PROFILE("add");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

// `v < 0 ? 0 : v` rather than `v > 0 ? v : 0`: the comparison is false for NaN, which then
// passes through as in PyTorch instead of being silently turned into 0.
template <typename T>
void add_relu(Stream, std::int64_t n, const T* a, const T* b, T* y) {
  MINIDL_CPU_PROFILE("add_relu");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const T v = a[i] + b[i];
    y[i] = v < T(0) ? T(0) : v;
  }
}

template <typename T>
void relu_forward(Stream, std::int64_t n, const T* x, T* y) {
  MINIDL_CPU_PROFILE("relu_forward");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
}

// Blocked where y <= 0, as PyTorch's threshold_backward: a NaN output passes its gradient on.
template <typename T>
void relu_backward(Stream, std::int64_t n, const T* dy, const T* y, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("relu_backward");
  if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) dx[i] += y[i] <= T(0) ? T(0) : dy[i];
  } else {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) dx[i] = y[i] <= T(0) ? T(0) : dy[i];
  }
}

template <typename T>
void sum(Stream, std::int64_t n, const T* x, double alpha, T* out) {
  MINIDL_CPU_PROFILE("sum");
  *out = static_cast<T>(detail::blocked_sum(n, x, [](double v) { return v; }) * alpha);
}

template <typename T>
void fill_from_scalar(Stream, std::int64_t n, const T* scalar, double alpha, T* y, bool accumulate) {
  MINIDL_CPU_PROFILE("fill_from_scalar");
  const T v = static_cast<T>(alpha * static_cast<double>(*scalar));
  if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) y[i] += v;
  } else {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) y[i] = v;
  }
}

template <typename From, typename To>
void convert(Stream, std::int64_t n, const From* x, To* y) {
  MINIDL_CPU_PROFILE("convert");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<To>(x[i]);
}

MINIDL_INSTANTIATE_ELEMENTWISE(float)
MINIDL_INSTANTIATE_ELEMENTWISE(double)

template void fill<float>(Stream, std::int64_t, float, float*);
template void fill<double>(Stream, std::int64_t, double, double*);
template void fill<std::int64_t>(Stream, std::int64_t, std::int64_t, std::int64_t*);

template void convert<float, double>(Stream, std::int64_t, const float*, double*);
template void convert<double, float>(Stream, std::int64_t, const double*, float*);
template void convert<std::int64_t, float>(Stream, std::int64_t, const std::int64_t*, float*);
template void convert<std::int64_t, double>(Stream, std::int64_t, const std::int64_t*, double*);

}  // namespace minidl::kernels::cpu
