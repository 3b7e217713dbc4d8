// kernels/runtime.h on the CUDA runtime.
#include "minidl/kernels/runtime.h"

#include <cuda_runtime.h>

#include <atomic>
#include <sstream>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/check.h"
#include "minidl/kernels/cuda/context.h"

namespace minidl::kernels::cuda {

namespace {

std::atomic<bool> g_allow_tf32{false};
std::atomic<bool> g_deterministic{false};
std::atomic<std::size_t> g_mallocs{0};
std::atomic<std::size_t> g_frees{0};
std::atomic<std::size_t> g_syncs{0};

cudaStream_t native(Stream s) { return s.handle; }

std::string human_bytes(std::size_t bytes) {
  std::ostringstream os;
  os.precision(2);
  os << std::fixed;
  if (bytes >= (std::size_t(1) << 30))
    os << double(bytes) / double(std::size_t(1) << 30) << " GiB";
  else if (bytes >= (std::size_t(1) << 20))
    os << double(bytes) / double(std::size_t(1) << 20) << " MiB";
  else
    os << bytes << " bytes";
  return os.str();
}

}  // namespace

namespace {
cudaError_t g_count_status = cudaSuccess;
}  // namespace

int device_count() {
  int count = 0;
  // No driver, no device, CUDA_VISIBLE_DEVICES= : all mean "no GPU", never an exception.
  g_count_status = cudaGetDeviceCount(&count);
  if (g_count_status != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

const char* device_count_error() { return g_count_status == cudaSuccess ? "" : cudaGetErrorString(g_count_status); }

void set_device(int device) { CUDA_CHECK(cudaSetDevice(device)); }

int current_device() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

int compute_capability(int device) {
  int major = 0, minor = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return major * 10 + minor;
}

Stream stream(int device) { return Stream{detail::context(device).stream()}; }

void synchronize(int device) {
  detail::DeviceGuard guard(device);
  CUDA_CHECK(cudaStreamSynchronize(detail::context(device).stream()));
  g_syncs.fetch_add(1, std::memory_order_relaxed);
}

void* malloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  // The caching allocator may need a new block while a CUDA graph is being captured (its private
  // pool grows). cudaMalloc is not part of the graph, and the block stays the pool's for the
  // graph's life, so this thread lets itself make the call then, as PyTorch's allocator does;
  // every other call that would invalidate a capture still does.
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  const cudaError_t status = cudaMalloc(&p, bytes);
  CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    std::size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) cudaGetLastError();
    const std::size_t in_use = total_bytes - free_bytes;
    int device = -1;
    cudaGetDevice(&device);
    std::ostringstream msg;
    msg << "CUDA out of memory on cuda:" << device << ": tried to allocate " << human_bytes(bytes) << " (" << bytes
        << " bytes); " << human_bytes(in_use) << " (" << in_use << " bytes) in use of " << human_bytes(total_bytes)
        << ", " << human_bytes(free_bytes) << " free. Try a smaller batch size.";
    throw OutOfMemoryError(msg.str(), bytes, in_use);
  }
  if (status != cudaSuccess) detail::throw_cuda_error(status, "cudaMalloc(&p, bytes)", __FILE__, __LINE__);
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void free(void* ptr) {
  if (!ptr) return;
  CUDA_CHECK(cudaFree(ptr));
  g_frees.fetch_add(1, std::memory_order_relaxed);
}

void* malloc_host(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t status = cudaMallocHost(&p, bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw OutOfMemoryError("out of page-locked host memory: tried to allocate " + human_bytes(bytes) + " (" +
                               std::to_string(bytes) + " bytes). Try a smaller batch size or fewer loader workers.",
                           bytes, 0);
  }
  if (status != cudaSuccess) detail::throw_cuda_error(status, "cudaMallocHost(&p, bytes)", __FILE__, __LINE__);
  return p;
}

void free_host(void* ptr) {
  if (ptr) CUDA_CHECK(cudaFreeHost(ptr));
}

void mem_info(std::size_t* free_bytes, std::size_t* total_bytes) {
  CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
}

void memcpy_async(void* dst, const void* src, std::size_t bytes, CopyKind kind, Stream s) {
  if (bytes == 0) return;
  cudaMemcpyKind k = cudaMemcpyDeviceToDevice;
  switch (kind) {
    case CopyKind::HostToDevice:
      k = cudaMemcpyHostToDevice;
      break;
    case CopyKind::DeviceToHost:
      k = cudaMemcpyDeviceToHost;
      break;
    case CopyKind::DeviceToDevice:
      k = cudaMemcpyDeviceToDevice;
      break;
  }
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, k, native(s)));
}

void memset_async(void* dst, int value, std::size_t bytes, Stream s) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, native(s)));
}

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }
void set_deterministic(bool d) { g_deterministic.store(d); }
bool deterministic() { return g_deterministic.load(); }

DriverCounters driver_counters() {
  DriverCounters c;
  c.mallocs = g_mallocs.load();
  c.frees = g_frees.load();
  c.syncs = g_syncs.load();
  return c;
}

}  // namespace minidl::kernels::cuda
