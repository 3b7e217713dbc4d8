// torch.cuda.CUDAGraph: records the work that code queues on a GPU's stream once, and replays it
// with one launch, without the host issuing each kernel again.
//
//   CUDAGraph g;
//   g.capture_begin(Device::cuda());
//   Tensor y = f(static_x);           // queued work is recorded, not run
//   g.capture_end();
//   static_x.copy_(next_x); g.replay(); // y now holds f(next_x)
//
// A replay reruns the recorded kernels with the arguments they were captured with: the same
// addresses (so inputs must be copied into the tensors the capture read, and outputs are read
// from the tensors it wrote) and the same scalars (a value the host passed by value, such as a
// learning rate passed to a kernel by value, is frozen: the optimisers of layers/optim.h pass
// theirs through device memory instead). The capture may
// not synchronise with the host (no item(), no copy to the CPU): the driver refuses it and the
// capture fails with an error naming the call. Every tensor allocated during the capture comes
// from the graph's private pool of the device's caching allocator (core/allocator.h), so nothing
// outside the graph is given those addresses while the graph can be replayed; the pool goes back
// to the shared cache when the graph is reset or destroyed. One capture at a time per process.
#pragma once

#include <cstdint>

#include "minidl/core/device.h"

namespace minidl {

// Whether a CUDAGraph is capturing `device`'s stream now (torch.cuda.is_current_stream_capturing).
// Code whose by-value arguments must follow each replay (an optimiser's learning rate) writes
// them to device memory outside the capture instead of queuing the write into it.
bool is_current_stream_capturing(Device device);

class CUDAGraph {
 public:
  CUDAGraph() = default;
  ~CUDAGraph();
  CUDAGraph(const CUDAGraph&) = delete;
  CUDAGraph& operator=(const CUDAGraph&) = delete;

  // Starts recording the work queued on `device`'s stream (a GPU; throws minidl::Error for the
  // CPU or a build without CUDA). Any graph this object held is reset first.
  void capture_begin(Device device);
  // Ends the recording and makes it replayable. Throws minidl::CudaError naming what invalidated
  // the capture (a host synchronisation in it, say); the object is then empty again.
  void capture_end();
  // Ends a capture after a failure inside it (an exception between begin and end), discarding it.
  void capture_abort();
  // Queues the recorded work on the device's stream; returns without waiting for it.
  void replay();
  // Drops the graph and gives its pool back to the shared cache.
  void reset();

  bool captured() const { return graph_ != nullptr; }
  bool capturing() const { return capturing_; }
  Device device() const { return device_; }

 private:
  Device device_ = Device::cpu();
  void* graph_ = nullptr;  // kernels/runtime.h's executable graph
  std::uint64_t pool_ = 0;
  bool capturing_ = false;
};

}  // namespace minidl
