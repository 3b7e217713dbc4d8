// The oneDNN convolution behind kernels::cpu's float32 conv entry points. Internal to
// kernels/cpu (conv2d.cpp calls it); see conv2d_dnnl.cpp for why and how.
#pragma once

#include "minidl/kernels/conv2d.h"

namespace minidl::kernels::cpu::detail {

// Each runs the convolution through oneDNN and returns true, or returns false without touching
// the output when oneDNN cannot run it (not built in, not loadable, or it declines the
// geometry): the caller then runs another path.
bool dnnl_conv2d_forward(const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y);
bool dnnl_conv2d_backward_input(const Conv2dGeometry& g, const float* dy, const float* weight, float* dx,
                                bool accumulate);
bool dnnl_conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* dy, float* dweight,
                                 bool accumulate);

}  // namespace minidl::kernels::cpu::detail
