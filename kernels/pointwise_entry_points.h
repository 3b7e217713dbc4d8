// The entry points of kernels/pointwise.h, the same on both devices:
// pointwise.h includes this file twice, inside namespace cpu and inside namespace cuda, so that
// each is declared once.
// No #pragma once, on purpose; include pointwise.h, never this file.

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

// Explicitly instantiates the entry points above for the element type T: the one list
// kernels/cpu/pointwise.cpp and kernels/cuda/pointwise.cu share, each naming the types it has.
#define MINIDL_INSTANTIATE_POINTWISE(T)                                                                                \
  template void unary_forward<T>(Stream, std::int64_t, UnaryOp, const T*, T*);                                         \
  template void unary_backward<T>(Stream, std::int64_t, UnaryOp, const T*, const T*, const T*, T*, bool);              \
  template void binary_forward<T>(Stream, std::int64_t, Binary, const T*, const T*, T*);                               \
  template void binary_backward<T>(Stream, std::int64_t, Binary, const T*, const T*, const T*, const T*, T*, bool, T*, \
                                   bool);                                                                              \
  template void where_forward<T>(Stream, std::int64_t, const T*, const T*, const T*, T*);                              \
  template void where_backward<T>(Stream, std::int64_t, const T*, const T*, T*, bool, T*, bool);                       \
  template void dropout_mask<T>(Stream, std::int64_t, double, std::uint64_t, T*);
