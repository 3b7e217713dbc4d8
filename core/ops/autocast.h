// Internal to core/ops: how conv2d and linear apply the precision policy (core/precision.h).
// Not installed.
#pragma once

#include <memory>

#include "minidl/config.h"
#include "minidl/core/extension.h"
#include "minidl/core/precision.h"
#include "minidl/core/storage.h"
#include "minidl/core/tensor.h"
#include "minidl/kernels/bf16.h"

namespace minidl::ops_detail {

// Whether a matrix-multiply op on x computes in bf16 now: the policy says bf16 and x is float32
// (float64 is never rounded, as in PyTorch's autocast).
bool autocast_bf16(const Tensor& x);

// A new float32 tensor holding t rounded to bf16 (no history); undefined for undefined t.
Tensor round_to_bf16(const Tensor& t);

// Calls f(stream) with the stream of t's GPU (t float32): the packed-bf16 kernels, which only
// CUDA has. Throws, naming the op, for a tensor on the CPU (or in a build without CUDA).
template <typename F>
void dispatch_cuda_bf16(const char* op, const Tensor& t, [[maybe_unused]] F&& f) {  // unused without CUDA
#if MINIDL_WITH_CUDA
  if (t.device().is_cuda() && t.dtype() == DType::Float32) {
    f(extension::cuda_stream(t));
    return;
  }
#endif
  extension::fail_no_kernel(op, t);
}

// A float32 GPU tensor's values as packed bf16 (kernels::bfloat16: half the bytes of the float32
// tensor, the same values round_to_bf16 gives) in a block of the device's caching allocator, so
// a steady-state step takes no memory from the driver. The operands of the bf16 GEMMs on the
// GPU; a backward node keeps these instead of rounded float32 copies. No tensor: nothing but
// the kernels reads them. Only for GPU tensors (there is no CPU kernel that reads packed bf16).
// channels_last (a 4-d t only) packs [n, c, h, w] as [n, h, w, c], the order cuDNN's bf16
// convolutions read (kernels/conv2d.h), in the same pass.
class Bf16Buffer {
 public:
  Bf16Buffer() = default;  // undefined
  explicit Bf16Buffer(const Tensor& t, bool channels_last = false);
  bool defined() const { return storage_ != nullptr; }
  const kernels::bfloat16* data() const { return static_cast<const kernels::bfloat16*>(storage_->data()); }

 private:
  std::shared_ptr<Storage> storage_;
};

}  // namespace minidl::ops_detail
