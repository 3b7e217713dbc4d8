// Reductions over chosen dimensions: sum (and mean, by alpha) over any set of dimensions, which
// is also the backward of broadcasting; max/min and their indices over one dimension; softmax and
// log_softmax over one dimension. Sums accumulate in double, in a fixed order (bit-reproducible).
#pragma once

#include "minidl/kernels/common.h"
#include "minidl/kernels/indexing.h"

namespace minidl::kernels {

// x of shape s (contiguous); out has s with the reduced dims set to 1. For dim d:
// kept[d] = s[d] and reduced[d] = 1, or kept[d] = 1 and reduced[d] = s[d]; stride[d] is x's
// contiguous stride.
struct ReduceGeometry {
  int rank = 0;
  std::int64_t kept[kMaxDims];
  std::int64_t reduced[kMaxDims];
  std::int64_t stride[kMaxDims];
};

// x as [outer, n, inner] around the reduced dimension.
struct DimGeometry {
  std::int64_t outer, n, inner;
};

namespace cpu {
#include "minidl/kernels/reduce_dim_entry_points.h"
}  // namespace cpu

namespace cuda {
#include "minidl/kernels/reduce_dim_entry_points.h"
}  // namespace cuda

}  // namespace minidl::kernels
