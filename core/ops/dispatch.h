// Internal to core/ops: the checks every op makes and the one device/dtype dispatch every op
// calls its kernels through. They are public (core/extension.h, so that a user's op outside the
// library is written the same way); core/ops reaches them through ops_detail. Not installed.
//
// An op names each kernel once:
//
//   dispatch("relu", x, [&](auto s, auto tag) {
//     using T = decltype(tag);
//     relu_forward(s, x.numel(), x.data<T>(), y.data<T>());
//   });
//
// dispatch looks at the tensor's device and dtype and calls the lambda with that device's stream
// (kernels::cpu::Stream or kernels::cuda::Stream) and a value of the element type. The kernel is
// called unqualified: the stream's type makes argument-dependent lookup find cpu::relu_forward
// or cuda::relu_forward (kernels/common.h). The element types an op has kernels for are its
// template arguments, CPU then CUDA; the defaults are what every kernel has today (float and
// double on the CPU, float on CUDA). An op whose CUDA kernel gains bf16 says so where it calls
// dispatch: dispatch<CpuFloating, Types<float, bf16>>(...).
#pragma once

#include "minidl/core/extension.h"
#include "minidl/core/ops.h"

namespace minidl::ops_detail {
using namespace minidl::extension;
}  // namespace minidl::ops_detail
