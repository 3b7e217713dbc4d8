// The CUDA convolution backends. Each ends with its row of the table (the ConvBackend of
// kernels/conv2d.h); conv2d.cu lists the rows and picks one per call. Internal to kernels/cuda.
#pragma once

#include "minidl/kernels/conv2d.h"

namespace minidl::kernels::cuda {

// conv2d_implicit_gemm.cu: our tiled implicit GEMM, every geometry (whose sizes fit 32-bit
// indexing); the fallback.
namespace implicit_gemm {
template <typename T>
ConvBackend<T> backend();
// The same kernels reading packed bf16 operands (the entry points of the same names in
// kernels/conv2d.h call these).
void forward_bf16(Stream, const Conv2dGeometry&, const bfloat16* x, const bfloat16* weight, const float* bias, float* y);
void backward_data_bf16(Stream, const Conv2dGeometry&, const bfloat16* dy, const bfloat16* weight, float* dx,
                        bool accumulate);
void backward_filter_bf16(Stream, const Conv2dGeometry&, const bfloat16* x, const bfloat16* dy, float* dweight,
                          bool accumulate);
// The GEMMs on tensor cores (kernels/conv2d.h, set_implicit_gemm_tensor_cores): the setting,
// and whether they run (the setting, a build with sm_80+ code, and this GPU).
void set_tensor_cores(bool on);
bool tensor_cores_run();
}  // namespace implicit_gemm

// cuDNN's convolutions are in conv2d_cudnn.cpp (cudnn_ops.h); conv2d.cu adapts them to the table.

}  // namespace minidl::kernels::cuda
