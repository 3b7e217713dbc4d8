// Moving elements between layouts: the strided copy behind permute, transpose, expand, narrow,
// select and cat (forward and backward), and index_select and gather. Deterministic on both
// devices: no atomics; each backward output element sums its own contributions in order.
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

constexpr int kMaxDims = 8;

// Walks every index of `shape` (row-major) and moves src[sum idx*src_stride] to
// dst[sum idx*dst_stride]. A zero source stride repeats an element (expand). The destination
// offsets must be distinct (every use here writes each element once).
struct StridedCopy {
  int rank = 0;
  std::int64_t shape[kMaxDims];
  std::int64_t src_stride[kMaxDims];
  std::int64_t dst_stride[kMaxDims];
};

// The index ops see their input as [outer, n, inner] around the dimension `dim`.
struct IndexGeometry {
  std::int64_t outer, n, inner;
  std::int64_t k;  // the index's length along dim (index_select: its numel; gather: its size(dim))
};

namespace cpu {
// dst (+)= src, element by element, through the strides.
template <typename T> void strided_copy(Stream, const StridedCopy& g, const T* src, T* dst, bool accumulate);
// y[o, j, i] = x[o, index[j], i]. An index outside [0, n) writes 1 + its position into *bad
// and that output element is 0.
template <typename T>
void index_select_forward(Stream, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y,
                          std::int64_t* bad);
// dx[o, m, i] (+)= sum over j with index[j] == m of dy[o, j, i].
template <typename T>
void index_select_backward(Stream, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx,
                           bool accumulate);
// index [outer, k, inner]: y[o, j, i] = x[o, index[o, j, i], i]; bad indices as index_select.
template <typename T>
void gather_forward(Stream, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y, std::int64_t* bad);
// dx[o, m, i] (+)= sum over j with index[o, j, i] == m of dy[o, j, i].
template <typename T>
void gather_backward(Stream, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx, bool accumulate);
}  // namespace cpu

namespace cuda {
template <typename T> void strided_copy(Stream, const StridedCopy& g, const T* src, T* dst, bool accumulate);
template <typename T>
void index_select_forward(Stream, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y,
                          std::int64_t* bad);
template <typename T>
void index_select_backward(Stream, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx,
                           bool accumulate);
template <typename T>
void gather_forward(Stream, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y, std::int64_t* bad);
template <typename T>
void gather_backward(Stream, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx, bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
