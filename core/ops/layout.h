// Internal to core/ops: the strided-copy building blocks that several op files share
// (broadcasting in the elementwise ops, the batch dims of matmul, reductions' backward).
#pragma once

#include "minidl/core/tensor.h"

namespace minidl::ops_detail {

// A dimension index in [0, rank), from torch's convention (negative counts from the end).
std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, const char* op);
// torch's broadcast shape of a and b, or an error naming op and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// dst (+)= alpha * the sum of src over the dims where `shape` (right-aligned against src's) is 1 or
// missing: the backward of broadcasting. dst has numel_of(shape) elements.
void sum_to_into(const Tensor& src, const Shape& shape, const Tensor& dst, bool accumulate, double alpha = 1.0);

}  // namespace minidl::ops_detail

namespace minidl::ops_detail {
// softmax (log = false) or log_softmax over any dim (softmax.cpp).
Tensor softmax_dim(const Tensor& x, std::int64_t dim, bool log);
}  // namespace minidl::ops_detail
