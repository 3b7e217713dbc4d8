// The CUDA convolution backends, every one with the ConvBackend shape of kernels/conv2d.h.
// Internal to kernels/cuda: conv2d.cu puts them in its table and picks one per call.
#pragma once

#include "minidl/kernels/conv2d.h"

namespace minidl::kernels::cuda {

// conv2d_implicit_gemm.cu: every geometry (whose sizes fit 32-bit indexing); the fallback.
namespace implicit_gemm {
template <typename T>
void forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void backward_data(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void backward_filter(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
}  // namespace implicit_gemm

// cuDNN's convolutions are in conv2d_cudnn.cpp (cudnn_ops.h); conv2d.cu adapts them to the table.

}  // namespace minidl::kernels::cuda
