// swish's CPU kernels, for float and double (double is what gradcheck runs in).
#include <cmath>

#include "swish_kernels.h"

namespace custom_op {

template <typename T>
void swish_forward(minidl::kernels::cpu::Stream, std::int64_t n, T beta, const T* x, T* y) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] / (T(1) + std::exp(-beta * x[i]));
}

// d/dx x s(bx) = s + b x s (1 - s), with s = sigmoid(b x).
template <typename T>
void swish_backward(minidl::kernels::cpu::Stream, std::int64_t n, T beta, const T* dy, const T* x, T* dx,
                    bool accumulate) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T s = T(1) / (T(1) + std::exp(-beta * x[i]));
    const T g = dy[i] * (s + beta * x[i] * s * (T(1) - s));
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

template void swish_forward<float>(minidl::kernels::cpu::Stream, std::int64_t, float, const float*, float*);
template void swish_forward<double>(minidl::kernels::cpu::Stream, std::int64_t, double, const double*, double*);
template void swish_backward<float>(minidl::kernels::cpu::Stream, std::int64_t, float, const float*, const float*,
                                    float*, bool);
template void swish_backward<double>(minidl::kernels::cpu::Stream, std::int64_t, double, const double*,
                                     const double*, double*, bool);

}  // namespace custom_op
