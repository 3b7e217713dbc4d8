#include "minidl/kernels/cuda/check.h"

#include <string>

#include "minidl/base/error.h"

namespace minidl::kernels::cuda::detail {

namespace {

std::string where(const char* call, const char* file, int line) {
  return std::string(" in `") + call + "` at " + file + ":" + std::to_string(line);
}

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "unknown cuBLAS status";
}

}  // namespace

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  // Clear the (non-sticky) error so that the next call does not report it again.
  cudaGetLastError();
  throw CudaError(std::string("CUDA error ") + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")" +
                  where(call, file, line));
}

void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw CublasError(std::string("cuBLAS error ") + cublas_status_name(status) + " (" +
                    std::to_string(static_cast<int>(status)) + ")" + where(call, file, line));
}

#if MINIDL_WITH_CUDNN
void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  // cuDNN 9 keeps a longer account of the last failure (which sub-library did not load, which
  // parameter was wrong) than the status name: add it.
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof detail);
  throw CudnnError(std::string("cuDNN error ") + cudnnGetErrorString(status) + " (" +
                   std::to_string(static_cast<int>(status)) + ")" + where(call, file, line) +
                   (detail[0] ? std::string(": ") + detail : std::string()));
}
#endif

}  // namespace minidl::kernels::cuda::detail
