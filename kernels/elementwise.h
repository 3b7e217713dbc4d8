// Elementwise ops and whole-buffer reductions over n contiguous elements.
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

namespace cpu {
template <typename T> void fill(std::int64_t n, T value, T* y);
// y = alpha * x (accumulate=false) or y += alpha * x (accumulate=true).
template <typename T> void scale(std::int64_t n, T alpha, const T* x, T* y, bool accumulate);
template <typename T> void add(std::int64_t n, const T* a, const T* b, T* y);
// The residual join of a BasicBlock in one pass: y = max(a + b, 0).
template <typename T> void add_relu(std::int64_t n, const T* a, const T* b, T* y);
template <typename T> void relu_forward(std::int64_t n, const T* x, T* y);
// dx (+)= dy where y > 0 (y is relu's output, so the mask needs no copy of x).
template <typename T> void relu_backward(std::int64_t n, const T* dy, const T* y, T* dx, bool accumulate);
// Sum of all elements, accumulated in double (pairwise within threads) for accuracy.
template <typename T> double sum(std::int64_t n, const T* x);
// Sum of squares (the squared L2 norm), accumulated in double; for gradient clipping.
template <typename T> double sum_squares(std::int64_t n, const T* x);
// Conversions between element types (float <-> double, and int64 -> float).
template <typename From, typename To> void convert(std::int64_t n, const From* x, To* y);
// True if every element is finite.
template <typename T> bool all_finite(std::int64_t n, const T* x);
}  // namespace cpu

namespace cuda {
void fill(std::int64_t n, float value, float* y, Stream stream);
void scale(std::int64_t n, float alpha, const float* x, float* y, bool accumulate, Stream stream);
void add(std::int64_t n, const float* a, const float* b, float* y, Stream stream);
void add_relu(std::int64_t n, const float* a, const float* b, float* y, Stream stream);
void relu_forward(std::int64_t n, const float* x, float* y, Stream stream);
void relu_backward(std::int64_t n, const float* dy, const float* y, float* dx, bool accumulate, Stream stream);
// Writes the sum into *out (device memory) as a float.
void sum(std::int64_t n, const float* x, float* out, Stream stream);
// Writes the sum of squares into *out (device memory) as a float.
void sum_squares(std::int64_t n, const float* x, float* out, Stream stream);
// Broadcast a device scalar: y[i] (+)= alpha * (*scalar). Backward of sum/mean without a host trip.
void fill_from_scalar(std::int64_t n, const float* scalar, float alpha, float* y, bool accumulate, Stream stream);
}  // namespace cuda

}  // namespace minidl::kernels
