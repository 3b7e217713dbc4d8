// The entry points of kernels/pool.h, the same on both devices: pool.h includes this file
// twice, inside namespace cpu and inside namespace cuda, so that each is declared once.
// No #pragma once, on purpose; include pool.h, never this file.

// argmax[i] is the index within its input plane (0 .. h*w-1) of the element that won output i;
// ties go to the first in row-major window order, as in PyTorch.
template <typename T>
void max_pool2d_forward(Stream, const Pool2dGeometry& g, const T* x, T* y, std::int64_t* argmax);
template <typename T>
void max_pool2d_backward(Stream, const Pool2dGeometry& g, const T* dy, const std::int64_t* argmax, T* dx,
                         bool accumulate);

template <typename T>
void adaptive_avg_pool2d_forward(Stream, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                 std::int64_t oh, std::int64_t ow, const T* x, T* y);
template <typename T>
void adaptive_avg_pool2d_backward(Stream, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                  std::int64_t oh, std::int64_t ow, const T* dy, T* dx, bool accumulate);
// torch's avg_pool2d (floor mode): windows may cover the padding; the divisor counts the padded
// cells they cover when count_include_pad, else only real ones (avg_pool_math.h).
template <typename T>
void avg_pool2d_forward(Stream, const Pool2dGeometry& g, bool count_include_pad, const T* x, T* y);
// dx (+)= the sum over the windows covering each input of dy / divisor.
template <typename T>
void avg_pool2d_backward(Stream, const Pool2dGeometry& g, bool count_include_pad, const T* dy, T* dx, bool accumulate);

// Explicitly instantiates the max and adaptive pooling entry points above for the element type
// T: the one list kernels/cpu/pool.cpp and kernels/cuda/pool.cu share, each naming the types it
// has. avg_pool2d's two are instantiated in kernels/cpu/avg_pool.cpp and kernels/cuda/avg_pool.cu.
#define MINIDL_INSTANTIATE_POOL(T)                                                                                     \
  template void max_pool2d_forward<T>(Stream, const Pool2dGeometry&, const T*, T*, std::int64_t*);                     \
  template void max_pool2d_backward<T>(Stream, const Pool2dGeometry&, const T*, const std::int64_t*, T*, bool);        \
  template void adaptive_avg_pool2d_forward<T>(Stream, std::int64_t, std::int64_t, std::int64_t, std::int64_t,         \
                                               std::int64_t, std::int64_t, const T*, T*);                              \
  template void adaptive_avg_pool2d_backward<T>(Stream, std::int64_t, std::int64_t, std::int64_t, std::int64_t,        \
                                                std::int64_t, std::int64_t, const T*, T*, bool);
