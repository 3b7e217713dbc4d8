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
// y[j] (+)= alpha * sum of x over the reduced dims of out position j.
template <typename T>
void reduce_sum(Stream, const ReduceGeometry& g, double alpha, const T* x, T* y, bool accumulate);
// values[o, i] = max (or min) over j of x[o, j, i], indices[o, i] its first j; either output may
// be null. NaN counts as the largest (and smallest) value, as in torch.
template <typename T>
void max_dim_forward(Stream, const DimGeometry& g, bool is_min, const T* x, T* values, std::int64_t* indices);
// dx[o, j, i] (+)= (j == indices[o, i]) ? dy[o, i] : 0.
template <typename T>
void max_dim_backward(Stream, const DimGeometry& g, const T* dy, const std::int64_t* indices, T* dx, bool accumulate);
// y = softmax (or log_softmax) of x over j.
template <typename T> void softmax_forward(Stream, const DimGeometry& g, bool log, const T* x, T* y);
// From the saved output y: softmax dx = y (dy - sum dy y); log_softmax dx = dy - exp(y) sum dy.
template <typename T>
void softmax_backward(Stream, const DimGeometry& g, bool log, const T* dy, const T* y, T* dx, bool accumulate);
}  // namespace cpu

namespace cuda {
template <typename T>
void reduce_sum(Stream, const ReduceGeometry& g, double alpha, const T* x, T* y, bool accumulate);
template <typename T>
void max_dim_forward(Stream, const DimGeometry& g, bool is_min, const T* x, T* values, std::int64_t* indices);
template <typename T>
void max_dim_backward(Stream, const DimGeometry& g, const T* dy, const std::int64_t* indices, T* dx, bool accumulate);
template <typename T> void softmax_forward(Stream, const DimGeometry& g, bool log, const T* x, T* y);
template <typename T>
void softmax_backward(Stream, const DimGeometry& g, bool log, const T* dy, const T* y, T* dx, bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
