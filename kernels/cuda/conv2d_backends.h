// The CUDA convolution backends. Each ends with its row of the table (the ConvBackend of
// kernels/conv2d.h); conv2d.cu lists the rows and picks one per call. Internal to kernels/cuda.
#pragma once

#include "minidl/kernels/conv2d.h"

namespace minidl::kernels::cuda {

// conv2d_implicit_gemm.cu: our tiled implicit GEMM, every geometry (whose sizes fit 32-bit
// indexing); the fallback.
namespace implicit_gemm { template <typename T> ConvBackend<T> backend(); }

// cuDNN's convolutions are in conv2d_cudnn.cpp (cudnn_ops.h); conv2d.cu adapts them to the table.

}  // namespace minidl::kernels::cuda
