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
#include "minidl/kernels/indexing_entry_points.h"
}  // namespace cpu

namespace cuda {
#include "minidl/kernels/indexing_entry_points.h"
}  // namespace cuda

}  // namespace minidl::kernels
