// The cuDNN paths of convolution and batch norm (conv2d_cudnn.cpp, batch_norm_cudnn.cpp), called
// by the public entry points when cuDNN is selected. cuDNN builds only.
#pragma once

#include "minidl/config.h"

#if MINIDL_WITH_CUDNN

#include <cuda_runtime.h>

#include "minidl/kernels/batch_norm.h"
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/conv2d.h"

namespace minidl::kernels::cuda::detail {

// Convolution without bias (the caller adds it). Algorithms are found once per shape.
void cudnn_conv2d_forward(const Conv2dGeometry& g, const float* x, const float* weight, float* y, cudaStream_t s);
void cudnn_conv2d_backward_input(const Conv2dGeometry& g, const float* dy, const float* weight, float* dx,
                                 bool accumulate, cudaStream_t s);
void cudnn_conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* dy, float* dweight,
                                  bool accumulate, cudaStream_t s);

// The bf16 policy's convolutions (kernels/conv2d.h, g.channels_last): packed bf16 operands in
// channels-last order (x and dy [n, h, w, c], the weight [k, r, s, c / groups]), FP32 compute.
// cuDNN writes a bf16 result in the same order (y, dx, or dweight) into the context's workspace;
// each returns where. It stays valid on stream s until the next call that uses the workspace,
// so the caller widens it into float32 on s straight away.
const bfloat16* cudnn_conv2d_forward_bf16(const Conv2dGeometry& g, const bfloat16* x, const bfloat16* weight,
                                          cudaStream_t s);
const bfloat16* cudnn_conv2d_backward_input_bf16(const Conv2dGeometry& g, const bfloat16* dy, const bfloat16* weight,
                                                 cudaStream_t s);
const bfloat16* cudnn_conv2d_backward_weight_bf16(const Conv2dGeometry& g, const bfloat16* x, const bfloat16* dy,
                                                  cudaStream_t s);

// Batch norm through cuDNN. Each returns false, having done nothing, when cuDNN cannot express
// the call (no gamma/beta, eps below CUDNN_BN_MIN_EPSILON, only some outputs wanted...); the
// caller then runs our kernels.
bool cudnn_batch_norm_forward_train(const BatchNormGeometry& g, const float* x, const float* gamma, const float* beta,
                                    double eps, double momentum, float* running_mean, float* running_var, float* y,
                                    float* save_mean, float* save_invstd, cudaStream_t s);
bool cudnn_batch_norm_forward_eval(const BatchNormGeometry& g, const float* x, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, double eps, float* y,
                                   cudaStream_t s);
bool cudnn_batch_norm_backward(const BatchNormGeometry& g, bool training, const float* dy, const float* x,
                               const float* gamma, const float* mean, const float* invstd, double eps, float* dx,
                               bool accumulate_dx, float* dgamma, float* dbeta, bool accumulate_params, cudaStream_t s);

}  // namespace minidl::kernels::cuda::detail

#endif  // MINIDL_WITH_CUDNN
