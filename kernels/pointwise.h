// Elementwise maps with torch's names, over n contiguous elements: one kernel pair for the
// one-input maps (neg, exp, log, sqrt, abs, sigmoid, tanh, gelu, silu, clamp, pow, x*a+b, a/x),
// one for the two-input ones (add, sub, mul, div, pow, and the comparisons), `where`, and the
// dropout mask. Both backends evaluate the same formulas (pointwise_math.h), so the parity tests
// check the launch and indexing and the float64 gradient checks check the formulas.
// Broadcasting is not done here: core/ops expands the inputs to the output's shape first.
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

enum class Unary : int {
  Neg, Exp, Log, Sqrt, Abs, Sigmoid, Tanh,
  Gelu,    // x * Phi(x), the exact (erf) form: torch's default approximate='none'
  Silu,    // x * sigmoid(x)
  Clamp,   // min(max(x, a), b); a = -inf or b = +inf for a one-sided clamp
  Pow,     // x^a
  Affine,  // a * x + b (adding, subtracting a scalar, and scalar - x)
  Rdiv,    // a / x (scalar / tensor)
};
struct UnaryOp {
  Unary op;
  double a = 0, b = 0;
};

// Gt.. Eq compare, giving 1 or 0 in the inputs' type (torch gives bool); they have no gradient.
enum class Binary : int { Add, Sub, Mul, Div, Pow, Gt, Lt, Ge, Le, Eq, Ne };

namespace cpu {
template <typename T> void unary_forward(Stream, std::int64_t n, UnaryOp op, const T* x, T* y);
// dx (+)= dy * f'(x) (y = f(x) is passed too: sigmoid's and tanh's derivatives use it).
template <typename T>
void unary_backward(Stream, std::int64_t n, UnaryOp op, const T* dy, const T* x, const T* y, T* dx, bool accumulate);
template <typename T> void binary_forward(Stream, std::int64_t n, Binary op, const T* a, const T* b, T* y);
// da (+)= dy * d op / da and db (+)= dy * d op / db; a null da or db is not needed.
template <typename T>
void binary_backward(Stream, std::int64_t n, Binary op, const T* dy, const T* a, const T* b, const T* y, T* da,
                     bool accumulate_a, T* db, bool accumulate_b);
// y = cond != 0 ? a : b.
template <typename T> void where_forward(Stream, std::int64_t n, const T* cond, const T* a, const T* b, T* y);
template <typename T>
void where_backward(Stream, std::int64_t n, const T* cond, const T* dy, T* da, bool accumulate_a, T* db,
                    bool accumulate_b);
// mask[i] = 1/keep with probability keep, else 0, from a counter-based hash of (seed, i): the
// same mask on both devices for the same seed, in any launch order.
template <typename T> void dropout_mask(Stream, std::int64_t n, double keep, std::uint64_t seed, T* mask);
}  // namespace cpu

namespace cuda {
template <typename T> void unary_forward(Stream, std::int64_t n, UnaryOp op, const T* x, T* y);
template <typename T>
void unary_backward(Stream, std::int64_t n, UnaryOp op, const T* dy, const T* x, const T* y, T* dx, bool accumulate);
template <typename T> void binary_forward(Stream, std::int64_t n, Binary op, const T* a, const T* b, T* y);
template <typename T>
void binary_backward(Stream, std::int64_t n, Binary op, const T* dy, const T* a, const T* b, const T* y, T* da,
                     bool accumulate_a, T* db, bool accumulate_b);
template <typename T> void where_forward(Stream, std::int64_t n, const T* cond, const T* a, const T* b, T* y);
template <typename T>
void where_backward(Stream, std::int64_t n, const T* cond, const T* dy, T* da, bool accumulate_a, T* db,
                    bool accumulate_b);
template <typename T> void dropout_mask(Stream, std::int64_t n, double keep, std::uint64_t seed, T* mask);
}  // namespace cuda

}  // namespace minidl::kernels
