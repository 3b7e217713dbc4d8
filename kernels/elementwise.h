// Elementwise ops and whole-buffer reductions over n contiguous elements.
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

namespace cpu {
// T = float, double, int64 (fill); float, double (the rest).
template <typename T> void fill(Stream, std::int64_t n, T value, T* y);
// y = alpha * x (accumulate=false) or y += alpha * x (accumulate=true).
template <typename T> void scale(Stream, std::int64_t n, T alpha, const T* x, T* y, bool accumulate);
template <typename T> void add(Stream, std::int64_t n, const T* a, const T* b, T* y);
// The residual join of a BasicBlock in one pass: y = max(a + b, 0).
template <typename T> void add_relu(Stream, std::int64_t n, const T* a, const T* b, T* y);
template <typename T> void relu_forward(Stream, std::int64_t n, const T* x, T* y);
// dx (+)= dy where y > 0 (y is relu's output, so the mask needs no copy of x).
template <typename T> void relu_backward(Stream, std::int64_t n, const T* dy, const T* y, T* dx, bool accumulate);
// *out = alpha * (sum of all elements), accumulated in double (pairwise within threads) for
// accuracy, in an order that depends on n only (the same for any thread count).
template <typename T> void sum(Stream, std::int64_t n, const T* x, double alpha, T* out);
// y (+)= alpha * (*scalar): the backward of sum and mean, reading the upstream gradient in place.
template <typename T>
void fill_from_scalar(Stream, std::int64_t n, const T* scalar, double alpha, T* y, bool accumulate);
// CPU only: conversions between element types (float <-> double, and int64 -> float).
template <typename From, typename To> void convert(Stream, std::int64_t n, const From* x, To* y);
}  // namespace cpu

namespace cuda {
// T = float, double, int64 (fill); float (the rest).
template <typename T> void fill(Stream, std::int64_t n, T value, T* y);
template <typename T> void scale(Stream, std::int64_t n, T alpha, const T* x, T* y, bool accumulate);
template <typename T> void add(Stream, std::int64_t n, const T* a, const T* b, T* y);
template <typename T> void add_relu(Stream, std::int64_t n, const T* a, const T* b, T* y);
template <typename T> void relu_forward(Stream, std::int64_t n, const T* x, T* y);
template <typename T> void relu_backward(Stream, std::int64_t n, const T* dy, const T* y, T* dx, bool accumulate);
// In double, in a fixed order (bit-reproducible); n == 0 writes 0.
template <typename T> void sum(Stream, std::int64_t n, const T* x, double alpha, T* out);
template <typename T>
void fill_from_scalar(Stream, std::int64_t n, const T* scalar, double alpha, T* y, bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
