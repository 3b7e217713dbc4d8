// Internal to core: checks of data that only a kernel reads, such as class indices. A kernel
// that finds row i bad writes 1 + i into an int64 "slot" and carries on without using it; the
// host looks at the slot when it would wait for the device anyway. On the CPU that is at once
// (the kernel has returned); on a GPU it is the next time the host reads device memory
// (Tensor::item(), to_vector(), a copy to the CPU), as PyTorch's device-side asserts surface at
// the next synchronisation. A training step thus never stalls the GPU to validate its labels,
// and a bad label is still an error that names the row, never a silently wrong loss.
#pragma once

#include <cstdint>

#include "minidl/core/tensor.h"

namespace minidl::ops_detail {

class IndexCheck {
 public:
  // op, what and bound_name are string literals ("cross_entropy", "target", "classes"); valid
  // values are [0, bound). values is the tensor the kernel reads: the CPU's message quotes the
  // bad value from it.
  IndexCheck(const Tensor& values, const char* op, const char* what, const char* bound_name, std::int64_t bound);
  // The slot to pass to the kernel, in the memory of values' device.
  std::int64_t* slot() { return slot_; }
  // Call after the kernel: on the CPU throws minidl::Error if a row was bad; on a GPU the check
  // is left for the next synchronisation (raise_index_checks).
  void done() const;

 private:
  const Tensor& values_;
  const char* op_;
  const char* what_;
  const char* bound_name_;
  std::int64_t bound_;
  std::int64_t cpu_slot_ = 0;
  std::int64_t* slot_;
};

// Throws the first error that a kernel on `device` (a GPU) has reported since the last call, and
// clears it. Called after every synchronisation that reads device memory into the host.
void raise_index_checks(Device device);

}  // namespace minidl::ops_detail
