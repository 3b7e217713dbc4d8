// The CPU convolution backends, one file each, every one with the ConvBackend shape of
// kernels/conv2d.h. Internal to kernels/cpu: conv2d.cpp puts them in its table and picks one
// per call.
#pragma once

#include "minidl/kernels/conv2d.h"

namespace minidl::kernels::cpu {

// conv2d_im2col.cpp: every geometry, float and double; the fallback.
namespace im2col {
template <typename T>
void forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void backward_data(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void backward_filter(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
}  // namespace im2col

// conv2d_taps.cpp: every geometry, float and double; fast on small output maps.
namespace taps {
template <typename T>
void forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void backward_data(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void backward_filter(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
}  // namespace taps

// conv2d_onednn.cpp: float; what supports() accepts (it builds and caches the oneDNN plan).
namespace onednn {
bool supports(ConvDirection d, const Conv2dGeometry& g);
void forward(Stream, const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y);
void backward_data(Stream, const Conv2dGeometry& g, const float* dy, const float* weight, float* dx, bool accumulate);
void backward_filter(Stream, const Conv2dGeometry& g, const float* x, const float* dy, float* dweight,
                     bool accumulate);
}  // namespace onednn

// conv2d_ref.cpp: the definition, every geometry, float and double.
namespace ref {
template <typename T>
void forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void backward_data(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void backward_filter(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
}  // namespace ref

}  // namespace minidl::kernels::cpu
