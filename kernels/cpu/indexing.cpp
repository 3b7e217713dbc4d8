// kernels/indexing.h and kernels/reduce_dim.h on the CPU: loops over the per-element code shared
// with CUDA (indexing_math.h), split across OpenMP threads above kParallelGrain. Each output
// element is written by one iteration, so the split never changes a result.
#include "minidl/kernels/indexing.h"

#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"
#include "minidl/kernels/indexing_math.h"
#include "minidl/kernels/reduce_dim.h"

namespace minidl::kernels::cpu {

using detail::kParallelGrain;

namespace {

// Runs f(i) for i in [0, count); `work` estimates the elements touched, to decide on threads.
template <typename F>
void for_each(std::int64_t count, std::int64_t work, F&& f) {
#pragma omp parallel for schedule(static) if (work >= kParallelGrain && count > 1)
  for (std::int64_t i = 0; i < count; ++i) f(i);
}
}  // namespace

template <typename T>
void strided_copy(Stream, const StridedCopy& g, const T* src, T* dst, bool accumulate) {
  MINIDL_CPU_PROFILE("strided_copy");
  const std::int64_t n = kernels::detail::numel(g.rank, g.shape);
  for_each(n, n, [&](std::int64_t i) { kernels::detail::strided_copy_one(g, i, src, dst, accumulate); });
}

template <typename T>
void index_select_forward(Stream, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y,
                          std::int64_t* bad) {
  MINIDL_CPU_PROFILE("index_select_forward");
  const std::int64_t n = g.outer * g.k * g.inner;
  // Serial when a bad index can occur anywhere: *bad is written by at most one thread at a time.
  for (std::int64_t e = 0; e < n; ++e) kernels::detail::index_select_one(g, e, x, index, y, bad);
}

template <typename T>
void index_select_backward(Stream, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx,
                           bool accumulate) {
  MINIDL_CPU_PROFILE("index_select_backward");
  const std::int64_t n = g.outer * g.n * g.inner;
  for_each(n, n * g.k, [&](std::int64_t e) { kernels::detail::index_select_backward_one(g, e, dy, index, dx, accumulate); });
}

template <typename T>
void gather_forward(Stream, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y, std::int64_t* bad) {
  MINIDL_CPU_PROFILE("gather_forward");
  const std::int64_t n = g.outer * g.k * g.inner;
  for (std::int64_t e = 0; e < n; ++e) kernels::detail::gather_one(g, e, x, index, y, bad);
}

template <typename T>
void gather_backward(Stream, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("gather_backward");
  const std::int64_t n = g.outer * g.n * g.inner;
  for_each(n, n * g.k, [&](std::int64_t e) { kernels::detail::gather_backward_one(g, e, dy, index, dx, accumulate); });
}

template <typename T>
void reduce_sum(Stream, const ReduceGeometry& g, double alpha, const T* x, T* y, bool accumulate) {
  MINIDL_CPU_PROFILE("reduce_sum");
  const std::int64_t m = kernels::detail::numel(g.rank, g.kept), r = kernels::detail::numel(g.rank, g.reduced);
  for_each(m, m * r, [&](std::int64_t j) { kernels::detail::reduce_sum_one(g, j, alpha, x, y, accumulate); });
}

template <typename T>
void max_dim_forward(Stream, const DimGeometry& g, bool is_min, const T* x, T* values, std::int64_t* indices) {
  MINIDL_CPU_PROFILE("max_dim_forward");
  const std::int64_t rows = g.outer * g.inner;
  for_each(rows, rows * g.n, [&](std::int64_t r) { kernels::detail::max_dim_one(g, r, is_min, x, values, indices); });
}

template <typename T>
void max_dim_backward(Stream, const DimGeometry& g, const T* dy, const std::int64_t* indices, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("max_dim_backward");
  const std::int64_t n = g.outer * g.n * g.inner;
  for_each(n, n, [&](std::int64_t e) { kernels::detail::max_dim_backward_one(g, e, dy, indices, dx, accumulate); });
}

template <typename T>
void softmax_forward(Stream, const DimGeometry& g, bool log, const T* x, T* y) {
  MINIDL_CPU_PROFILE("softmax_forward");
  const std::int64_t rows = g.outer * g.inner;
  for_each(rows, rows * g.n, [&](std::int64_t r) { kernels::detail::softmax_row(g, r, log, x, y); });
}

template <typename T>
void softmax_backward(Stream, const DimGeometry& g, bool log, const T* dy, const T* y, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("softmax_backward");
  const std::int64_t rows = g.outer * g.inner;
  for_each(rows, rows * g.n, [&](std::int64_t r) { kernels::detail::softmax_backward_row(g, r, log, dy, y, dx, accumulate); });
}

MINIDL_INSTANTIATE_INDEXING(float)
MINIDL_INSTANTIATE_REDUCE_DIM(float)
MINIDL_INSTANTIATE_INDEXING(double)
MINIDL_INSTANTIATE_REDUCE_DIM(double)
// int64 moves too (argmax results, indices through cat or permute).
template void strided_copy<std::int64_t>(Stream, const StridedCopy&, const std::int64_t*, std::int64_t*, bool);

}  // namespace minidl::kernels::cpu
