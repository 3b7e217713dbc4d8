// The per-device CUDA context: minidl's stream, the cuBLAS and cuDNN handles, the SM count,
// one growing scratch workspace, and the cuDNN per-shape caches. One per device, created on
// first use and kept for the life of the process, so that nothing is created inside a training
// loop after the first step of each shape.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "minidl/config.h"

#if MINIDL_WITH_CUDNN
#include <cudnn.h>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/lazy_handle.h"
#endif

namespace minidl::kernels::cuda::detail {

#if MINIDL_WITH_CUDNN
struct CudnnCache;  // cudnn_cache.h: descriptors and chosen algorithms per shape
#endif

class Context {
 public:
  explicit Context(int device);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  int sm_count() const { return sm_count_; }

  // The cuBLAS handle bound to `s`, its math mode following allow_tf32().
  cublasHandle_t cublas(cudaStream_t s);

  // Scratch memory of at least `bytes`, valid for work queued in stream order until the next
  // call of workspace() that grows it. Growing waits for the device (the old buffer may still be
  // in use by queued kernels), so it happens only on the first step of a new, larger shape.
  void* workspace(std::size_t bytes);
  std::size_t workspace_size() const { return workspace_bytes_; }
  // CUDA graphs of this device that are alive (kernels/cuda/graph.cpp): while there are any, a
  // growing workspace keeps the old buffer, whose address captured kernels hold; the last one
  // gone frees those buffers.
  void graph_created();
  void graph_destroyed();

#if MINIDL_WITH_CUDNN
  // The cuDNN handle bound to `s`. Made on the first call, not with the context: a machine
  // whose cuDNN does not load still runs everything else, and the first cuDNN operation throws
  // one CudnnError naming the library (and every later one the same message).
  cudnnHandle_t cudnn(cudaStream_t s);
  // The per-shape plans; also makes the handle first, so that a cuDNN that does not load is
  // reported as such and not as a failed descriptor call.
  CudnnCache& cudnn_cache();
#endif

  // Guards the caches when several host threads use one device.
  std::mutex& mutex() { return mutex_; }

 private:
  int device_;
  int sm_count_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  int cublas_tf32_ = -1;  // math mode the handle was last set to (-1: never)
  void* cublas_workspace_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  int graphs_ = 0;
  std::vector<void*> retired_workspaces_;
#if MINIDL_WITH_CUDNN
  LazyHandle<cudnnHandle_t, CudnnError> cudnn_;
  CudnnCache* cudnn_cache_ = nullptr;  // lives as long as the context (for ever)
#endif
  std::mutex mutex_;
};

// The context of the current device (cudaGetDevice), or of `device`.
Context& context();
Context& context(int device);

// Switches the current device for a scope and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace minidl::kernels::cuda::detail
