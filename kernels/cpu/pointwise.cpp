// The elementwise maps of kernels/pointwise.h on the CPU: one loop each over the shared formulas
// (pointwise_math.h), split across OpenMP threads above kParallelGrain.
#include "minidl/kernels/pointwise.h"

#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"
#include "minidl/kernels/pointwise_math.h"

namespace minidl::kernels::cpu {

using detail::kParallelGrain;

namespace {
// out (+)= v.
template <typename T>
inline void put(T* out, std::int64_t i, T v, bool accumulate) {
  if (accumulate) out[i] += v;
  else out[i] = v;
}
}  // namespace

template <typename T>
void unary_forward(Stream, std::int64_t n, UnaryOp op, const T* x, T* y) {
  MINIDL_CPU_PROFILE("unary_forward");
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = kernels::detail::unary_f(op, x[i]);
}

template <typename T>
void unary_backward(Stream, std::int64_t n, UnaryOp op, const T* dy, const T* x, const T* y, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("unary_backward");
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) put(dx, i, dy[i] * kernels::detail::unary_df(op, x[i], y[i]), accumulate);
}

template <typename T>
void binary_forward(Stream, std::int64_t n, Binary op, const T* a, const T* b, T* y) {
  MINIDL_CPU_PROFILE("binary_forward");
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = kernels::detail::binary_f(op, a[i], b[i]);
}

template <typename T>
void binary_backward(Stream, std::int64_t n, Binary op, const T* dy, const T* a, const T* b, const T* y, T* da,
                     bool accumulate_a, T* db, bool accumulate_b) {
  MINIDL_CPU_PROFILE("binary_backward");
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    if (da) put(da, i, dy[i] * kernels::detail::binary_da(op, a[i], b[i], y[i]), accumulate_a);
    if (db) put(db, i, dy[i] * kernels::detail::binary_db(op, a[i], b[i], y[i]), accumulate_b);
  }
}

template <typename T>
void where_forward(Stream, std::int64_t n, const T* cond, const T* a, const T* b, T* y) {
  MINIDL_CPU_PROFILE("where_forward");
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = cond[i] != T(0) ? a[i] : b[i];
}

template <typename T>
void where_backward(Stream, std::int64_t n, const T* cond, const T* dy, T* da, bool accumulate_a, T* db,
                    bool accumulate_b) {
  MINIDL_CPU_PROFILE("where_backward");
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const bool c = cond[i] != T(0);
    if (da) put(da, i, c ? dy[i] : T(0), accumulate_a);
    if (db) put(db, i, c ? T(0) : dy[i], accumulate_b);
  }
}

template <typename T>
void dropout_mask(Stream, std::int64_t n, double keep, std::uint64_t seed, T* mask) {
  MINIDL_CPU_PROFILE("dropout_mask");
  const T scale = static_cast<T>(1.0 / keep);
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) mask[i] = kernels::detail::hash_uniform(seed, i) < keep ? scale : T(0);
}

MINIDL_INSTANTIATE_POINTWISE(float)
MINIDL_INSTANTIATE_POINTWISE(double)

}  // namespace minidl::kernels::cpu
