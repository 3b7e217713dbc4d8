// The entry points of kernels/elementwise.h, the same on both devices:
// elementwise.h includes this file twice, inside namespace cpu and inside namespace cuda, so that
// each is declared once.
// No #pragma once, on purpose; include elementwise.h, never this file.

// T = float, double, int64 (fill); the rest: float, double on the CPU, float on CUDA.
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
// accuracy, in an order that depends on n only (the same for any thread count): bit-reproducible.
// n == 0 writes 0.
template <typename T> void sum(Stream, std::int64_t n, const T* x, double alpha, T* out);
// y (+)= alpha * (*scalar): the backward of sum and mean, reading the upstream gradient in place.
template <typename T>
void fill_from_scalar(Stream, std::int64_t n, const T* scalar, double alpha, T* y, bool accumulate);

// Explicitly instantiates the entry points above but fill (instantiated for int64 too, beside
// this) for the element type T: the one list kernels/cpu/elementwise.cpp and
// kernels/cuda/elementwise.cu share, each naming the types it has.
#define MINIDL_INSTANTIATE_ELEMENTWISE(T)                                                                              \
  template void scale<T>(Stream, std::int64_t, T, const T*, T*, bool);                                                 \
  template void add<T>(Stream, std::int64_t, const T*, const T*, T*);                                                  \
  template void add_relu<T>(Stream, std::int64_t, const T*, const T*, T*);                                             \
  template void relu_forward<T>(Stream, std::int64_t, const T*, T*);                                                   \
  template void relu_backward<T>(Stream, std::int64_t, const T*, const T*, T*, bool);                                  \
  template void sum<T>(Stream, std::int64_t, const T*, double, T*);                                                    \
  template void fill_from_scalar<T>(Stream, std::int64_t, const T*, double, T*, bool);
