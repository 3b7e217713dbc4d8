// Writing an op outside the library (docs/extending.md): the same few pieces every op of
// core/ops is built from, installed so that a user's op is built the same way.
//
//   - the checks ops make on their inputs, with messages naming the op, the argument and shape;
//   - dispatch(): looks at a tensor's device and dtype and calls the op's lambda with that
//     device's stream (kernels::cpu::Stream, or kernels::cuda::Stream whose `handle` is the
//     device's cudaStream_t, the device made current) and a value of the element type;
//   - Node, GradSlot and record() (core/autograd.h) for the backward.
//
// An op names its kernels once, as core/ops does (docs/adding-an-op.md):
//
//   dispatch("swish", x, [&](auto s, auto tag) {
//     using T = decltype(tag);
//     swish_forward(s, x.numel(), beta, x.data<T>(), y.data<T>());
//   });
//
// The call is unqualified: overloads of swish_forward for kernels::cpu::Stream and (in a CUDA
// build, MINIDL_WITH_CUDA in minidl/config.h) kernels::cuda::Stream pick the device. The CUDA
// branch is only compiled where the installed minidl has the CUDA backend, so a CPU-only install
// never asks for a CUDA kernel. The element types are the template arguments, CPU then CUDA;
// the defaults are float and double on the CPU and float on CUDA.
#pragma once

#include <initializer_list>

#include "minidl/config.h"
#include "minidl/core/autograd.h"
#include "minidl/core/tensor.h"
#include "minidl/kernels/common.h"
#if MINIDL_WITH_CUDA
#include "minidl/kernels/cuda_profile.h"
#endif

namespace minidl::extension {

// Throws unless t is defined, floating, and (on a GPU) float32.
void check_float(const Tensor& t, const char* op, const char* arg);
// Throws unless every defined tensor lives on the device of the first.
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws unless every defined tensor has the dtype of the first.
void check_same_dtype(const char* op, std::initializer_list<const Tensor*> tensors);
void check_dim(const Tensor& t, std::int64_t dims, const char* op, const char* arg);

// A typed pointer, or nullptr for an undefined tensor (optional kernel arguments).
template <typename T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The buffer a backward writes gin's gradient into, or nullptr when that gradient is not needed
// (kernels skip a null output).
template <typename T>
T* grad_ptr(GradSlot& slot) {
  return slot.needed ? slot.grad.data<T>() : nullptr;
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

// Calls f(stream, T{}) for t's device and dtype; throws, naming the op and the tensor, when the
// op has no kernel for them.
template <typename Cpu = CpuFloating, typename Cuda = CudaFloating, typename F>
void dispatch(const char* op, const Tensor& t, F&& f) {
  if (t.device().is_cpu()) {
    if (call_typed(t.dtype(), kernels::cpu::Stream{}, f, Cpu{})) return;
  } else {
#if MINIDL_WITH_CUDA
    const kernels::cuda::Stream s = cuda_stream(t);
    const kernels::cuda::profile::Scope timed(op, s);  // bench_train --profile; nothing when off
    if (call_typed(t.dtype(), s, f, Cuda{})) return;
#endif
  }
  fail_no_kernel(op, t);
}

}  // namespace minidl::extension
