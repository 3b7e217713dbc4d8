#include "minidl/kernels/cuda/context.h"

#include <array>
#include <atomic>
#include <string>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/check.h"
#include "minidl/kernels/runtime.h"

#if MINIDL_WITH_CUDNN
#include "minidl/kernels/cuda/cudnn_cache.h"
#endif

namespace minidl::kernels::cuda::detail {

namespace {

// cuBLAS asks for 32 MiB of workspace on Hopper. Given from our allocator up front, so that
// cuBLAS never calls cudaMalloc itself in the middle of a step.
constexpr std::size_t kCublasWorkspaceBytes = std::size_t(32) << 20;
// The scratch workspace grows in steps of this much, so a sequence of slightly larger shapes
// does not reallocate each time.
constexpr std::size_t kWorkspaceGranule = std::size_t(4) << 20;

constexpr int kMaxDevices = 64;
std::array<std::atomic<Context*>, kMaxDevices> g_contexts{};
std::mutex g_create_mutex;

}  // namespace

DeviceGuard::DeviceGuard(int device) {
  CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current != previous_) cudaSetDevice(previous_);
}

Context::Context(int device)
    : device_(device)
#if MINIDL_WITH_CUDNN
      ,
      cudnn_("cuDNN (libcudnn.so.9 and its libcudnn_*.so.9 sub-libraries)",
             "minidl's own convolution and batch-norm kernels do not need it: "
             "kernels::cuda::set_conv_backend(\"implicit_gemm\") and set_batch_norm_impl(BatchNormImpl::Native), "
             "or a build configured with -DMINIDL_CUDNN=OFF; or put the folder holding libcudnn*.so.9 on "
             "LD_LIBRARY_PATH",
             [this] {
               DeviceGuard guard(device_);
               cudnnHandle_t h = nullptr;
               CUDNN_CHECK(cudnnCreate(&h));
               CUDNN_CHECK(cudnnSetStream(h, stream_));
               return h;
             })
#endif
{
  DeviceGuard guard(device);
  CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device));
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CUBLAS_CHECK(cublasCreate(&cublas_));
  cublas_workspace_ = kernels::cuda::malloc(kCublasWorkspaceBytes);
  CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
#if MINIDL_WITH_CUDNN
  cudnn_cache_ = new CudnnCache();  // plain maps: no cuDNN call until a plan is made
#endif
}

cublasHandle_t Context::cublas(cudaStream_t s) {
  cudaStream_t bound = nullptr;
  CUBLAS_CHECK(cublasGetStream(cublas_, &bound));
  if (bound != s) {
    // cublasSetStream resets the workspace to cuBLAS's own pool: give ours back each time.
    CUBLAS_CHECK(cublasSetStream(cublas_, s));
    CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kCublasWorkspaceBytes));
  }
  const int tf32 = kernels::cuda::allow_tf32() ? 1 : 0;
  if (tf32 != cublas_tf32_) {
    // Strict FP32: CUBLAS_DEFAULT_MATH never uses TF32 for SGEMM (unless NVIDIA_TF32_OVERRIDE
    // forces it in the environment); CUBLAS_TF32_TENSOR_OP_MATH lets SGEMM round inputs to TF32.
    CUBLAS_CHECK(cublasSetMathMode(cublas_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    cublas_tf32_ = tf32;
  }
  return cublas_;
}

void* Context::workspace(std::size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  const std::size_t grown = (bytes + kWorkspaceGranule - 1) / kWorkspaceGranule * kWorkspaceGranule;
  DeviceGuard guard(device_);
  if (workspace_ && graphs_ > 0) {
    // A CUDA graph's kernels may use the old buffer at every replay: it stays allocated.
    retired_workspaces_.push_back(workspace_);
    workspace_ = nullptr;
    workspace_bytes_ = 0;
  } else if (workspace_) {
    // Kernels queued on any stream may still read the old buffer.
    CUDA_CHECK(cudaDeviceSynchronize());
    kernels::cuda::free(workspace_);
    workspace_ = nullptr;
    workspace_bytes_ = 0;
  }
  workspace_ = kernels::cuda::malloc(grown);
  workspace_bytes_ = grown;
  return workspace_;
}

void Context::graph_created() { ++graphs_; }

void Context::graph_destroyed() {
  if (--graphs_ > 0 || retired_workspaces_.empty()) return;
  DeviceGuard guard(device_);
  CUDA_CHECK(cudaDeviceSynchronize());  // a replay may still be queued
  for (void* p : retired_workspaces_) kernels::cuda::free(p);
  retired_workspaces_.clear();
}

#if MINIDL_WITH_CUDNN
cudnnHandle_t Context::cudnn(cudaStream_t s) {
  cudnnHandle_t h = cudnn_.get();
  CUDNN_CHECK(cudnnSetStream(h, s));
  return h;
}

CudnnCache& Context::cudnn_cache() {
  cudnn_.get();
  return *cudnn_cache_;
}
#endif

Context& context(int device) {
  MINIDL_CHECK(device >= 0 && device < kMaxDevices, "CUDA context: device index ", device, " out of range");
  Context* ctx = g_contexts[device].load(std::memory_order_acquire);
  if (ctx) return *ctx;
  std::lock_guard<std::mutex> lock(g_create_mutex);
  ctx = g_contexts[device].load(std::memory_order_relaxed);
  if (!ctx) {
    // Never deleted: at process exit the CUDA runtime may already be torn down when static
    // destructors run, and destroying handles then can crash. The driver reclaims everything.
    ctx = new Context(device);
    g_contexts[device].store(ctx, std::memory_order_release);
  }
  return *ctx;
}

Context& context() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  return context(device);
}

}  // namespace minidl::kernels::cuda::detail
