// Convolution on small output maps as GEMMs over the batch, one per output position and run of
// valid kernel taps. Internal to kernels/cpu (conv2d.cpp calls it); see conv2d_taps.cpp.
#pragma once

#include "minidl/kernels/conv2d.h"

namespace minidl::kernels::cpu::detail {

template <typename T>
void taps_conv2d_forward(const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void taps_conv2d_backward_input(const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void taps_conv2d_backward_weight(const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);

}  // namespace minidl::kernels::cpu::detail
