// Batch normalisation over the channels of an NCHW tensor (PyTorch's BatchNorm2d arithmetic).
// x, y: [n, c, hw]; gamma, beta, running_*, save_*: [c]. gamma/beta may be null (1 and 0).
// With BatchNormGeometry::relu, y = relu(batch_norm(x)) in the same kernels.
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

struct BatchNormGeometry {
  std::int64_t n, c, hw;
  // y = relu(batch_norm(x)): the ReLU that follows batch norm in ResNet's blocks, fused. The
  // forward then writes one tensor instead of two, and backward masks dy by y > 0 inside its own
  // passes instead of a ReLU backward pass of its own (core/ops/batch_norm.cpp, batch_norm_relu).
  bool relu = false;
};

namespace cpu {
#include "minidl/kernels/batch_norm_entry_points.h"
}  // namespace cpu

namespace cuda {
#include "minidl/kernels/batch_norm_entry_points.h"
// Which implementation the CUDA batch-norm entry points use (a runtime switch, like
// set_conv_backend). Default: cuDNN when built with it, else our kernels. cuDNN cannot express
// every call (no gamma/beta, eps < 1e-5, only some gradients wanted, eval-mode backward); those
// run on our kernels whatever the switch says.
enum class BatchNormImpl { Cudnn, Native };
void set_batch_norm_impl(BatchNormImpl impl);
BatchNormImpl batch_norm_impl();
}  // namespace cuda

}  // namespace minidl::kernels
