// The few CUDA runtime services core/ needs (memory, copies, streams, switches), as plain
// functions so that core never includes a CUDA header. Defined in kernels/cuda/ in builds with
// MINIDL_WITH_CUDA; in CPU-only builds core never calls them.
#pragma once

#include <cstddef>

#include "minidl/kernels/common.h"

namespace minidl::kernels::cuda {

// Number of usable GPUs; 0 (never an exception) when there is no driver or no device.
int device_count();
// Why device_count() is 0, in the runtime's words ("no CUDA-capable device is detected",
// "CUDA driver version is insufficient for CUDA runtime version"); empty when it is not.
const char* device_count_error();
void set_device(int device);
int current_device();
// The device's compute capability as major * 10 + minor: 90 for an H200 (and the emulator), 80
// for an A100.
int compute_capability(int device);
// The stream minidl runs its work on for this device (created once, non-blocking).
Stream stream(int device);
void synchronize(int device);

// Raw device memory; malloc throws minidl::OutOfMemoryError on failure (cudaErrorMemoryAllocation),
// minidl::CudaError on anything else. Used by core's caching allocator only.
void* malloc(std::size_t bytes);
void free(void* ptr);
// Page-locked host memory for the DataLoader's asynchronous copies.
void* malloc_host(std::size_t bytes);
void free_host(void* ptr);
// Memory the driver reports: free and total bytes on the current device.
void mem_info(std::size_t* free_bytes, std::size_t* total_bytes);

enum class CopyKind { HostToDevice, DeviceToHost, DeviceToDevice };
void memcpy_async(void* dst, const void* src, std::size_t bytes, CopyKind kind, Stream stream);
void memset_async(void* dst, int value, std::size_t bytes, Stream stream);

// CUDA graphs (kernels/cuda/graph.cpp; core/cuda_graph.h is the API). capture_begin starts
// capturing `device`'s stream (cudaStreamCaptureModeGlobal: a host synchronisation, cudaMalloc or
// cudaFree in the capture is an error); capture_end ends it and returns the executable graph, an
// opaque handle, or throws CudaError with what invalidated the capture. While any graph of a
// device lives, the context keeps the scratch workspace it was captured with (growing it leaves
// the old buffer allocated), since the graph's kernels hold its address.
void capture_begin(int device);
void* capture_end(int device);
// Ends a capture after a failure inside it, discarding what was recorded; never throws.
void capture_abort(int device);
void graph_launch(void* graph);
void graph_destroy(void* graph);

// Numerics switches. Default: strict FP32 (no TF32 in cuBLAS, cuDNN or the implicit GEMM),
// fastest algorithms.
void set_allow_tf32(bool allow);
bool allow_tf32();
void set_deterministic(bool deterministic);
bool deterministic();

// Counters for the "no cudaMalloc and no host synchronisation in a steady-state step" tests:
// driver allocations and frees, and synchronize() calls (every read of device memory by the
// host, Tensor::item() included, goes through one).
struct DriverCounters {
  std::size_t mallocs = 0, frees = 0, syncs = 0;
};
DriverCounters driver_counters();

}  // namespace minidl::kernels::cuda
