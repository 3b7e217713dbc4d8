// Check macros for every CUDA runtime, cuBLAS and cuDNN call, and for kernel launches. A failed
// call throws the typed minidl error (CudaError, CublasError, CudnnError) with the call's text,
// the error's name and description, and the file and line, so a report from a GPU we cannot
// reach says exactly which call broke.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "minidl/config.h"

#if MINIDL_WITH_CUDNN
#include <cudnn.h>
#endif

namespace minidl::kernels::cuda::detail {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line);
#if MINIDL_WITH_CUDNN
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line);
#endif

// Throws the library's error unless `status` is its success value.
inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) throw_cuda_error(status, call, file, line);
}
inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cublas_error(status, call, file, line);
}
#if MINIDL_WITH_CUDNN
inline void check(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS) throw_cudnn_error(status, call, file, line);
}
#endif

}  // namespace minidl::kernels::cuda::detail

// The macros name the call (#call) and where it is (__FILE__, __LINE__); check() does the rest.
#define CUDA_CHECK(call) ::minidl::kernels::cuda::detail::check((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) ::minidl::kernels::cuda::detail::check((call), #call, __FILE__, __LINE__)
#if MINIDL_WITH_CUDNN
#define CUDNN_CHECK(call) ::minidl::kernels::cuda::detail::check((call), #call, __FILE__, __LINE__)
#endif

// After every kernel launch: a bad configuration (grid, shared memory) shows up here, at the
// launch that caused it, rather than at some later unrelated call. `what` names the kernel.
#define CUDA_LAUNCH_CHECK(what)                                                                                 \
  do {                                                                                                          \
    const cudaError_t minidl_status_ = cudaGetLastError();                                                      \
    if (minidl_status_ != cudaSuccess)                                                                          \
      ::minidl::kernels::cuda::detail::throw_cuda_error(minidl_status_, "launch of " what, __FILE__, __LINE__); \
  } while (0)
