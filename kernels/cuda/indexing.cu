// kernels/indexing.h and kernels/reduce_dim.h on the GPU: grid-stride loops over the per-element
// code shared with the CPU (indexing_math.h), one thread per output element or row. No atomics:
// each output is written by one thread, so results are the same on every run.
#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/indexing.h"
#include "minidl/kernels/indexing_math.h"
#include "minidl/kernels/reduce_dim.h"

namespace minidl::kernels::cuda {

namespace m = kernels::detail;

namespace {

template <typename T>
__global__ void strided_copy_kernel(StridedCopy g, std::int64_t n, const T* src, T* dst, bool accumulate) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    m::strided_copy_one(g, i, src, dst, accumulate);
}

template <typename T>
__global__ void index_select_forward_kernel(IndexGeometry g, std::int64_t n, const T* x, const std::int64_t* index,
                                            T* y, std::int64_t* bad) {
  for (std::int64_t e = detail::grid_index(); e < n; e += detail::grid_stride())
    m::index_select_one(g, e, x, index, y, bad);  // racing writes of *bad: any one bad position will do
}

template <typename T>
__global__ void index_select_backward_kernel(IndexGeometry g, std::int64_t n, const T* dy, const std::int64_t* index,
                                             T* dx, bool accumulate) {
  for (std::int64_t e = detail::grid_index(); e < n; e += detail::grid_stride())
    m::index_select_backward_one(g, e, dy, index, dx, accumulate);
}

template <typename T>
__global__ void gather_forward_kernel(IndexGeometry g, std::int64_t n, const T* x, const std::int64_t* index, T* y,
                                      std::int64_t* bad) {
  for (std::int64_t e = detail::grid_index(); e < n; e += detail::grid_stride())
    m::gather_one(g, e, x, index, y, bad);
}

template <typename T>
__global__ void gather_backward_kernel(IndexGeometry g, std::int64_t n, const T* dy, const std::int64_t* index, T* dx,
                                       bool accumulate) {
  for (std::int64_t e = detail::grid_index(); e < n; e += detail::grid_stride())
    m::gather_backward_one(g, e, dy, index, dx, accumulate);
}

template <typename T>
__global__ void reduce_sum_kernel(ReduceGeometry g, std::int64_t n, double alpha, const T* x, T* y, bool accumulate) {
  for (std::int64_t j = detail::grid_index(); j < n; j += detail::grid_stride())
    m::reduce_sum_one(g, j, alpha, x, y, accumulate);
}

template <typename T>
__global__ void max_dim_forward_kernel(DimGeometry g, std::int64_t rows, bool is_min, const T* x, T* values,
                                       std::int64_t* indices) {
  for (std::int64_t r = detail::grid_index(); r < rows; r += detail::grid_stride())
    m::max_dim_one(g, r, is_min, x, values, indices);
}

template <typename T>
__global__ void max_dim_backward_kernel(DimGeometry g, std::int64_t n, const T* dy, const std::int64_t* indices,
                                        T* dx, bool accumulate) {
  for (std::int64_t e = detail::grid_index(); e < n; e += detail::grid_stride())
    m::max_dim_backward_one(g, e, dy, indices, dx, accumulate);
}

template <typename T>
__global__ void softmax_forward_kernel(DimGeometry g, std::int64_t rows, bool log, const T* x, T* y) {
  for (std::int64_t r = detail::grid_index(); r < rows; r += detail::grid_stride())
    m::softmax_row(g, r, log, x, y);
}

template <typename T>
__global__ void softmax_backward_kernel(DimGeometry g, std::int64_t rows, bool log, const T* dy, const T* y, T* dx,
                                        bool accumulate) {
  for (std::int64_t r = detail::grid_index(); r < rows; r += detail::grid_stride())
    m::softmax_backward_row(g, r, log, dy, y, dx, accumulate);
}

}  // namespace

template <typename T>
void strided_copy(Stream s, const StridedCopy& g, const T* src, T* dst, bool accumulate) {
  const std::int64_t n = m::numel(g.rank, g.shape);
  if (n <= 0) return;
  strided_copy_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(g, n, src, dst, accumulate);
  CUDA_LAUNCH_CHECK("strided_copy_kernel");
}

template <typename T>
void index_select_forward(Stream s, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y,
                          std::int64_t* bad) {
  const std::int64_t n = g.outer * g.k * g.inner;
  if (n <= 0) return;
  index_select_forward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(g, n, x, index, y, bad);
  CUDA_LAUNCH_CHECK("index_select_forward_kernel");
}

template <typename T>
void index_select_backward(Stream s, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx,
                           bool accumulate) {
  const std::int64_t n = g.outer * g.n * g.inner;
  if (n <= 0) return;
  index_select_backward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(g, n, dy, index, dx, accumulate);
  CUDA_LAUNCH_CHECK("index_select_backward_kernel");
}

template <typename T>
void gather_forward(Stream s, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y, std::int64_t* bad) {
  const std::int64_t n = g.outer * g.k * g.inner;
  if (n <= 0) return;
  gather_forward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(g, n, x, index, y, bad);
  CUDA_LAUNCH_CHECK("gather_forward_kernel");
}

template <typename T>
void gather_backward(Stream s, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx, bool accumulate) {
  const std::int64_t n = g.outer * g.n * g.inner;
  if (n <= 0) return;
  gather_backward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(g, n, dy, index, dx, accumulate);
  CUDA_LAUNCH_CHECK("gather_backward_kernel");
}

template <typename T>
void reduce_sum(Stream s, const ReduceGeometry& g, double alpha, const T* x, T* y, bool accumulate) {
  const std::int64_t n = m::numel(g.rank, g.kept);
  if (n <= 0) return;
  reduce_sum_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(g, n, alpha, x, y, accumulate);
  CUDA_LAUNCH_CHECK("reduce_sum_kernel");
}

template <typename T>
void max_dim_forward(Stream s, const DimGeometry& g, bool is_min, const T* x, T* values, std::int64_t* indices) {
  const std::int64_t rows = g.outer * g.inner;
  if (rows <= 0 || g.n <= 0) return;
  max_dim_forward_kernel<T><<<grid_for(rows), kBlock, 0, native(s)>>>(g, rows, is_min, x, values, indices);
  CUDA_LAUNCH_CHECK("max_dim_forward_kernel");
}

template <typename T>
void max_dim_backward(Stream s, const DimGeometry& g, const T* dy, const std::int64_t* indices, T* dx, bool accumulate) {
  const std::int64_t n = g.outer * g.n * g.inner;
  if (n <= 0) return;
  max_dim_backward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(g, n, dy, indices, dx, accumulate);
  CUDA_LAUNCH_CHECK("max_dim_backward_kernel");
}

template <typename T>
void softmax_forward(Stream s, const DimGeometry& g, bool log, const T* x, T* y) {
  const std::int64_t rows = g.outer * g.inner;
  if (rows <= 0 || g.n <= 0) return;
  softmax_forward_kernel<T><<<grid_for(rows), kBlock, 0, native(s)>>>(g, rows, log, x, y);
  CUDA_LAUNCH_CHECK("softmax_forward_kernel");
}

template <typename T>
void softmax_backward(Stream s, const DimGeometry& g, bool log, const T* dy, const T* y, T* dx, bool accumulate) {
  const std::int64_t rows = g.outer * g.inner;
  if (rows <= 0 || g.n <= 0) return;
  softmax_backward_kernel<T><<<grid_for(rows), kBlock, 0, native(s)>>>(g, rows, log, dy, y, dx, accumulate);
  CUDA_LAUNCH_CHECK("softmax_backward_kernel");
}

MINIDL_INSTANTIATE_INDEXING(float)
MINIDL_INSTANTIATE_REDUCE_DIM(float)
template void strided_copy<std::int64_t>(Stream, const StridedCopy&, const std::int64_t*, std::int64_t*, bool);

}  // namespace minidl::kernels::cuda
