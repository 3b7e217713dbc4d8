// The formulas of kernels/pointwise.h, written once for both backends (host and device), so
// that the CPU and CUDA kernels cannot disagree on a derivative. Internal to kernels/.
#pragma once

#include <cmath>
#include <cstdint>

#include "minidl/kernels/pointwise.h"

#if defined(__CUDACC__)
#define MINIDL_HD __host__ __device__ __forceinline__
#else
#define MINIDL_HD inline
#endif

namespace minidl::kernels::detail {

template <typename T>
MINIDL_HD T sigmoid(T x) {
  // Never exp of a large positive number: no overflow to inf/inf.
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

template <typename T>
MINIDL_HD T unary_f(UnaryOp o, T x) {
  const T a = T(o.a), b = T(o.b);
  switch (o.op) {
    case Unary::Neg: return -x;
    case Unary::Exp: return std::exp(x);
    case Unary::Log: return std::log(x);
    case Unary::Sqrt: return std::sqrt(x);
    case Unary::Abs: return std::fabs(x);
    case Unary::Sigmoid: return sigmoid(x);
    case Unary::Tanh: return std::tanh(x);
    case Unary::Gelu: return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
    case Unary::Silu: return x * sigmoid(x);
    case Unary::Clamp: return x < a ? a : (x > b ? b : x);  // NaN passes through, as in torch
    case Unary::Pow: return std::pow(x, a);
    case Unary::Affine: return a * x + b;
    case Unary::Rdiv: return a / x;
  }
  return x;
}

// d f / d x, given x and y = f(x).
template <typename T>
MINIDL_HD T unary_df(UnaryOp o, T x, T y) {
  const T a = T(o.a), b = T(o.b);
  switch (o.op) {
    case Unary::Neg: return T(-1);
    case Unary::Exp: return y;
    case Unary::Log: return T(1) / x;
    case Unary::Sqrt: return T(0.5) / y;
    case Unary::Abs: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case Unary::Sigmoid: return y * (T(1) - y);
    case Unary::Tanh: return T(1) - y * y;
    case Unary::Gelu: {
      const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
      const T pdf = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);
      return cdf + x * pdf;
    }
    case Unary::Silu: {
      const T s = sigmoid(x);
      return s * (T(1) + x * (T(1) - s));
    }
    case Unary::Clamp: return x >= a && x <= b ? T(1) : T(0);  // torch's mask: inclusive bounds
    case Unary::Pow: return a == T(0) ? T(0) : a * std::pow(x, a - T(1));
    case Unary::Affine: return a;
    case Unary::Rdiv: return -y / x;
  }
  return T(0);
}

template <typename T>
MINIDL_HD T binary_f(Binary op, T a, T b) {
  switch (op) {
    case Binary::Add: return a + b;
    case Binary::Sub: return a - b;
    case Binary::Mul: return a * b;
    case Binary::Div: return a / b;
    case Binary::Pow: return std::pow(a, b);
    case Binary::Gt: return a > b ? T(1) : T(0);
    case Binary::Lt: return a < b ? T(1) : T(0);
    case Binary::Ge: return a >= b ? T(1) : T(0);
    case Binary::Le: return a <= b ? T(1) : T(0);
    case Binary::Eq: return a == b ? T(1) : T(0);
    case Binary::Ne: return a != b ? T(1) : T(0);
  }
  return T(0);
}

// d op / d a and d op / d b at (a, b), y = op(a, b). Comparisons: 0.
template <typename T>
MINIDL_HD T binary_da(Binary op, T a, T b, T y) {
  (void)y;
  switch (op) {
    case Binary::Add: case Binary::Sub: return T(1);
    case Binary::Mul: return b;
    case Binary::Div: return T(1) / b;
    case Binary::Pow: return b == T(0) ? T(0) : b * std::pow(a, b - T(1));
    default: return T(0);
  }
}

template <typename T>
MINIDL_HD T binary_db(Binary op, T a, T b, T y) {
  switch (op) {
    case Binary::Add: return T(1);
    case Binary::Sub: return T(-1);
    case Binary::Mul: return a;
    case Binary::Div: return -y / b;
    case Binary::Pow: return a == T(0) && b >= T(0) ? T(0) : y * std::log(a);  // torch's choice at a = 0
    default: return T(0);
  }
}

// Uniform in [0, 1) from (seed, i): splitmix64's finaliser over a Weyl sequence, 53 bits.
MINIDL_HD double hash_uniform(std::uint64_t seed, std::int64_t i) {
  std::uint64_t z = seed + (static_cast<std::uint64_t>(i) + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace minidl::kernels::detail
