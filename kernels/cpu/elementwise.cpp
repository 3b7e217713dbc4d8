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
void fill(std::int64_t n, T value, T* y) {
  MINIDL_CPU_PROFILE("fill");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = value;
}

template <typename T>
void scale(std::int64_t n, T alpha, const T* x, T* y, bool accumulate) {
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
void add(std::int64_t n, const T* a, const T* b, T* y) {
  MINIDL_CPU_PROFILE("add");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

// `v < 0 ? 0 : v` rather than `v > 0 ? v : 0`: the comparison is false for NaN, which then
// passes through as in PyTorch instead of being silently turned into 0.
template <typename T>
void add_relu(std::int64_t n, const T* a, const T* b, T* y) {
  MINIDL_CPU_PROFILE("add_relu");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const T v = a[i] + b[i];
    y[i] = v < T(0) ? T(0) : v;
  }
}

template <typename T>
void relu_forward(std::int64_t n, const T* x, T* y) {
  MINIDL_CPU_PROFILE("relu_forward");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
}

// Blocked where y <= 0, as PyTorch's threshold_backward: a NaN output passes its gradient on.
template <typename T>
void relu_backward(std::int64_t n, const T* dy, const T* y, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("relu_backward");
  if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) dx[i] += y[i] <= T(0) ? T(0) : dy[i];
  } else {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) dx[i] = y[i] <= T(0) ? T(0) : dy[i];
  }
}

// The buffer is cut into blocks whose size depends on n alone, each block summed in double
// (vectorised), and the block sums combined pairwise in a fixed order. The result is thus the
// same for any thread count (bit-identical training runs depend on it), and the error grows
// like log(blocks) rather than n.
template <typename T, typename F>
double blocked_sum(std::int64_t n, const T* x, F term) {
  constexpr std::int64_t kMaxBlocks = 1024, kMinBlock = 4096;
  if (n <= 0) return 0.0;
  const std::int64_t block = std::max(kMinBlock, (n + kMaxBlocks - 1) / kMaxBlocks);
  const std::int64_t blocks = (n + block - 1) / block;
  double partial[kMaxBlocks];
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t bi = 0; bi < blocks; ++bi) {
    const std::int64_t begin = bi * block, end = std::min(n, begin + block);
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t i = begin; i < end; ++i) acc += term(static_cast<double>(x[i]));
    partial[bi] = acc;
  }
  for (std::int64_t width = 1; width < blocks; width *= 2)
    for (std::int64_t i = 0; i + width < blocks; i += 2 * width) partial[i] += partial[i + width];
  return partial[0];
}

template <typename T>
double sum(std::int64_t n, const T* x) {
  MINIDL_CPU_PROFILE("sum");
  return blocked_sum(n, x, [](double v) { return v; });
}

template <typename T>
double sum_squares(std::int64_t n, const T* x) {
  MINIDL_CPU_PROFILE("sum_squares");
  return blocked_sum(n, x, [](double v) { return v * v; });
}

template <typename From, typename To>
void convert(std::int64_t n, const From* x, To* y) {
  MINIDL_CPU_PROFILE("convert");
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<To>(x[i]);
}

// v * 0 is 0 for every finite v and NaN for inf and NaN, so the sum of v * 0 is 0 exactly when
// all are finite. Unlike a std::isfinite loop with an early exit, this vectorises.
template <typename T>
bool all_finite(std::int64_t n, const T* x) {
  MINIDL_CPU_PROFILE("all_finite");
  T acc = T(0);
#pragma omp parallel for simd schedule(static) reduction(+ : acc) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) acc += x[i] * T(0);
  return acc == T(0);
}

#define MINIDL_INSTANTIATE(T)                                                      \
  template void fill<T>(std::int64_t, T, T*);                                      \
  template void scale<T>(std::int64_t, T, const T*, T*, bool);                     \
  template void add<T>(std::int64_t, const T*, const T*, T*);                      \
  template void add_relu<T>(std::int64_t, const T*, const T*, T*);                 \
  template void relu_forward<T>(std::int64_t, const T*, T*);                       \
  template void relu_backward<T>(std::int64_t, const T*, const T*, T*, bool);      \
  template double sum<T>(std::int64_t, const T*);                                  \
  template double sum_squares<T>(std::int64_t, const T*);                          \
  template bool all_finite<T>(std::int64_t, const T*);
MINIDL_INSTANTIATE(float)
MINIDL_INSTANTIATE(double)
#undef MINIDL_INSTANTIATE

template void convert<float, double>(std::int64_t, const float*, double*);
template void convert<double, float>(std::int64_t, const double*, float*);
template void convert<float, float>(std::int64_t, const float*, float*);
template void convert<double, double>(std::int64_t, const double*, double*);
template void convert<std::int64_t, float>(std::int64_t, const std::int64_t*, float*);
template void convert<std::int64_t, double>(std::int64_t, const std::int64_t*, double*);

}  // namespace minidl::kernels::cpu
