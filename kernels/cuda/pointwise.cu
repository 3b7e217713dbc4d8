// The elementwise maps of kernels/pointwise.h on the GPU: grid-stride loops over the formulas
// shared with the CPU (pointwise_math.h).
#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/pointwise.h"
#include "minidl/kernels/pointwise_math.h"

namespace minidl::kernels::cuda {

namespace {

template <typename T>
__device__ __forceinline__ void put(T* out, std::int64_t i, T v, bool accumulate) {
  if (accumulate) out[i] += v;
  else out[i] = v;
}

template <typename T>
__global__ void unary_forward_kernel(std::int64_t n, UnaryOp op, const T* x, T* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    y[i] = kernels::detail::unary_f(op, x[i]);
}

template <typename T>
__global__ void unary_backward_kernel(std::int64_t n, UnaryOp op, const T* dy, const T* x, const T* y, T* dx,
                                      bool accumulate) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    put(dx, i, dy[i] * kernels::detail::unary_df(op, x[i], y[i]), accumulate);
}

template <typename T>
__global__ void binary_forward_kernel(std::int64_t n, Binary op, const T* a, const T* b, T* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    y[i] = kernels::detail::binary_f(op, a[i], b[i]);
}

template <typename T>
__global__ void binary_backward_kernel(std::int64_t n, Binary op, const T* dy, const T* a, const T* b, const T* y,
                                       T* da, bool accumulate_a, T* db, bool accumulate_b) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride()) {
    if (da) put(da, i, dy[i] * kernels::detail::binary_da(op, a[i], b[i], y[i]), accumulate_a);
    if (db) put(db, i, dy[i] * kernels::detail::binary_db(op, a[i], b[i], y[i]), accumulate_b);
  }
}

template <typename T>
__global__ void where_forward_kernel(std::int64_t n, const T* cond, const T* a, const T* b, T* y) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    y[i] = cond[i] != T(0) ? a[i] : b[i];
}

template <typename T>
__global__ void where_backward_kernel(std::int64_t n, const T* cond, const T* dy, T* da, bool accumulate_a, T* db,
                                      bool accumulate_b) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride()) {
    const bool c = cond[i] != T(0);
    if (da) put(da, i, c ? dy[i] : T(0), accumulate_a);
    if (db) put(db, i, c ? T(0) : dy[i], accumulate_b);
  }
}

template <typename T>
__global__ void dropout_mask_kernel(std::int64_t n, double keep, std::uint64_t seed, T scale, T* mask) {
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    mask[i] = kernels::detail::hash_uniform(seed, i) < keep ? scale : T(0);
}

}  // namespace

template <typename T>
void unary_forward(Stream s, std::int64_t n, UnaryOp op, const T* x, T* y) {
  if (n <= 0) return;
  unary_forward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, op, x, y);
  CUDA_LAUNCH_CHECK("unary_forward_kernel");
}

template <typename T>
void unary_backward(Stream s, std::int64_t n, UnaryOp op, const T* dy, const T* x, const T* y, T* dx, bool accumulate) {
  if (n <= 0) return;
  unary_backward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, op, dy, x, y, dx, accumulate);
  CUDA_LAUNCH_CHECK("unary_backward_kernel");
}

template <typename T>
void binary_forward(Stream s, std::int64_t n, Binary op, const T* a, const T* b, T* y) {
  if (n <= 0) return;
  binary_forward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, op, a, b, y);
  CUDA_LAUNCH_CHECK("binary_forward_kernel");
}

template <typename T>
void binary_backward(Stream s, std::int64_t n, Binary op, const T* dy, const T* a, const T* b, const T* y, T* da,
                     bool accumulate_a, T* db, bool accumulate_b) {
  if (n <= 0 || (!da && !db)) return;
  binary_backward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, op, dy, a, b, y, da, accumulate_a, db,
                                                                   accumulate_b);
  CUDA_LAUNCH_CHECK("binary_backward_kernel");
}

template <typename T>
void where_forward(Stream s, std::int64_t n, const T* cond, const T* a, const T* b, T* y) {
  if (n <= 0) return;
  where_forward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, cond, a, b, y);
  CUDA_LAUNCH_CHECK("where_forward_kernel");
}

template <typename T>
void where_backward(Stream s, std::int64_t n, const T* cond, const T* dy, T* da, bool accumulate_a, T* db,
                    bool accumulate_b) {
  if (n <= 0 || (!da && !db)) return;
  where_backward_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, cond, dy, da, accumulate_a, db, accumulate_b);
  CUDA_LAUNCH_CHECK("where_backward_kernel");
}

template <typename T>
void dropout_mask(Stream s, std::int64_t n, double keep, std::uint64_t seed, T* mask) {
  if (n <= 0) return;
  dropout_mask_kernel<T><<<grid_for(n), kBlock, 0, native(s)>>>(n, keep, seed, static_cast<T>(1.0 / keep), mask);
  CUDA_LAUNCH_CHECK("dropout_mask_kernel");
}

MINIDL_INSTANTIATE_POINTWISE(float)

}  // namespace minidl::kernels::cuda
