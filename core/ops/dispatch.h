// Internal to core/ops: the checks every op makes and the device/dtype dispatch. Not installed.
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

// The stream of t's GPU, made current. Only called for CUDA tensors.
kernels::Stream cuda_stream(const Tensor& t);

// A typed pointer or nullptr for an undefined tensor (optional kernel arguments).
template <typename T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Calls f(T{}) with T = float or double for a CPU tensor of that dtype.
template <typename F>
void dispatch_cpu(const Tensor& t, const char* op, F&& f) {
  switch (t.dtype()) {
    case DType::Float32: f(float{}); return;
    case DType::Float64: f(double{}); return;
    default: MINIDL_FAIL(op, ": expected a floating tensor, got ", t.str());
  }
}

// The CUDA branch of an op: compiled only into builds with the CUDA backend.
#if MINIDL_WITH_CUDA
#define MINIDL_IF_CUDA(tensor, ...)  \
  if ((tensor).device().is_cuda()) { \
    __VA_ARGS__;                     \
  } else
#else
#define MINIDL_IF_CUDA(tensor, ...)
#endif

}  // namespace minidl::ops_detail
