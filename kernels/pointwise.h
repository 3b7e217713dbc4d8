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
#include "minidl/kernels/pointwise_entry_points.h"
}  // namespace cpu

namespace cuda {
#include "minidl/kernels/pointwise_entry_points.h"
}  // namespace cuda

}  // namespace minidl::kernels
