// Internal to core/ops: the checks every op makes, and the one device/dtype dispatch every op
// calls its kernels through. Not installed.
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

#include <initializer_list>

#include "minidl/config.h"
#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/kernels/common.h"

namespace minidl::ops_detail {

// Throws unless t is defined, floating, and (on a GPU) float32.
void check_float(const Tensor& t, const char* op, const char* arg);
// Throws unless every defined tensor lives on the device of the first.
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws unless every defined tensor has the dtype of the first.
void check_same_dtype(const char* op, std::initializer_list<const Tensor*> tensors);
void check_dim(const Tensor& t, std::int64_t dims, const char* op, const char* arg);

// A typed pointer or nullptr for an undefined tensor (optional kernel arguments).
template <typename T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// A list of element types.
template <typename... T>
struct Types {};
using CpuFloating = Types<float, double>;
using CudaFloating = Types<float>;
using CpuAll = Types<float, double, std::int64_t>;
using CudaAll = Types<float, double, std::int64_t>;

#if MINIDL_WITH_CUDA
// The stream of t's GPU, with that GPU made current.
kernels::cuda::Stream cuda_stream(const Tensor& t);
#endif
[[noreturn]] void fail_no_kernel(const char* op, const Tensor& t);

// Calls f(s, T{}) for the T of `types` that is dtype; false when none is.
template <typename S, typename F, typename... T>
bool call_typed(DType dtype, S s, F& f, Types<T...>) {
  return ((dtype == dtype_v<T> ? (f(s, T{}), true) : false) || ...);
}

template <typename Cpu = CpuFloating, typename Cuda = CudaFloating, typename F>
void dispatch(const char* op, const Tensor& t, F&& f) {
  if (t.device().is_cpu()) {
    if (call_typed(t.dtype(), kernels::cpu::Stream{}, f, Cpu{})) return;
  } else {
#if MINIDL_WITH_CUDA
    if (call_typed(t.dtype(), cuda_stream(t), f, Cuda{})) return;
#endif
  }
  fail_no_kernel(op, t);
}

}  // namespace minidl::ops_detail
