// Pooling over NCHW planes: max pooling with padding (padded cells never win), average pooling,
// and adaptive average pooling (PyTorch's start = floor(i*h/oh), end = ceil((i+1)*h/oh) windows).
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

struct Pool2dGeometry {
  std::int64_t n, c, h, w;
  std::int64_t kh, kw, stride_h, stride_w, pad_h, pad_w;
  std::int64_t oh, ow;

  // Fills oh/ow (floor mode). Returns false if the output would be empty.
  bool finalize();
};

namespace cpu {
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
}  // namespace cpu

namespace cuda {
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
template <typename T>
void avg_pool2d_forward(Stream, const Pool2dGeometry& g, bool count_include_pad, const T* x, T* y);
template <typename T>
void avg_pool2d_backward(Stream, const Pool2dGeometry& g, bool count_include_pad, const T* dy, T* dx, bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
