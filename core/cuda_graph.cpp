#include "minidl/core/cuda_graph.h"

#include <atomic>

#include "minidl/base/error.h"
#include "minidl/config.h"
#include "minidl/core/allocator.h"
#if MINIDL_WITH_CUDA
#include "minidl/kernels/runtime.h"
#endif

namespace minidl {

namespace {
// The device whose stream a CUDAGraph captures, or -1: one capture at a time per process.
std::atomic<int> g_capturing_device{-1};
}  // namespace

bool is_current_stream_capturing(Device device) {
  return device.is_cuda() && g_capturing_device.load(std::memory_order_relaxed) == device.index;
}

CUDAGraph::~CUDAGraph() {
  try {
    if (capturing_) capture_abort();
    reset();
  } catch (...) {
    // A destructor must not throw; the driver reclaims a graph it could not destroy at exit.
  }
}

void CUDAGraph::capture_begin([[maybe_unused]] Device device) {
  MINIDL_CHECK(device.is_cuda(), "CUDAGraph::capture_begin: CUDA graphs capture a GPU's stream; got ", device.str());
  MINIDL_CHECK(!capturing_, "CUDAGraph::capture_begin: already capturing");
  check_device_available(device);
#if MINIDL_WITH_CUDA
  reset();
  Allocator& alloc = allocator_for(device);
  pool_ = alloc.new_pool();
  alloc.begin_pool(pool_);
  try {
    kernels::cuda::set_device(device.index);
    kernels::cuda::capture_begin(device.index);
  } catch (...) {
    alloc.end_pool();
    alloc.release_pool(pool_);
    pool_ = 0;
    throw;
  }
  device_ = device;
  capturing_ = true;
  g_capturing_device.store(device.index, std::memory_order_relaxed);
#endif
}

void CUDAGraph::capture_end() {
  MINIDL_CHECK(capturing_, "CUDAGraph::capture_end: no capture under way (capture_begin first)");
#if MINIDL_WITH_CUDA
  capturing_ = false;
  g_capturing_device.store(-1, std::memory_order_relaxed);
  Allocator& alloc = allocator_for(device_);
  alloc.end_pool();
  try {
    graph_ = kernels::cuda::capture_end(device_.index);
  } catch (...) {
    alloc.release_pool(pool_);
    pool_ = 0;
    throw;
  }
#endif
}

void CUDAGraph::capture_abort() {
  if (!capturing_) return;
  capturing_ = false;
  g_capturing_device.store(-1, std::memory_order_relaxed);
#if MINIDL_WITH_CUDA
  Allocator& alloc = allocator_for(device_);
  alloc.end_pool();
  kernels::cuda::capture_abort(device_.index);
  alloc.release_pool(pool_);
  pool_ = 0;
#endif
}

void CUDAGraph::replay() {
  MINIDL_CHECK(graph_, "CUDAGraph::replay: nothing captured (capture_begin and capture_end first)");
#if MINIDL_WITH_CUDA
  kernels::cuda::graph_launch(graph_);
#endif
}

void CUDAGraph::reset() {
  MINIDL_CHECK(!capturing_, "CUDAGraph::reset: a capture is under way (capture_end or capture_abort first)");
#if MINIDL_WITH_CUDA
  if (graph_) {
    kernels::cuda::graph_destroy(graph_);
    graph_ = nullptr;
  }
  if (pool_) {
    // Replays queued before this run before any later work of the stream that could reuse the
    // blocks: the caching allocator's reuse is in stream order on the device's one stream.
    allocator_for(device_).release_pool(pool_);
    pool_ = 0;
  }
#endif
}

}  // namespace minidl
