// The precision policy's kernels: operands rounded to bf16 on their device, or packed to bf16 on
// a GPU.
#include "minidl/core/ops/autocast.h"

#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/bf16.h"

namespace minidl::ops_detail {

bool autocast_bf16(const Tensor& x) {
  return autocast_precision() == Precision::BFloat16 && x.dtype() == DType::Float32;
}

Tensor round_to_bf16(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor r = Tensor::empty_like(t);
  dispatch<Types<float>, Types<float>>("round_to_bf16", t, [&](auto s, auto) {
    round_to_bf16(s, t.numel(), t.data<float>(), r.data<float>());
  });
  return r;
}

Bf16Buffer::Bf16Buffer(const Tensor& t, bool channels_last) {
  MINIDL_CHECK(t.defined() && t.dtype() == DType::Float32 && t.device().is_cuda(),
               "packed bf16 operands: expected a float32 tensor on a GPU, got ",
               t.defined() ? std::string(dtype_name(t.dtype())) + " on " + t.device().str() : std::string("none"));
  storage_ = std::make_shared<Storage>(static_cast<std::size_t>(t.numel()) * sizeof(kernels::bfloat16), t.device());
  auto* out = static_cast<kernels::bfloat16*>(storage_->data());
  MINIDL_CHECK(!channels_last || t.dim() == 4, "packed bf16 operands: channels-last order needs a 4-d tensor, got ",
               shape_str(t.shape()));
  dispatch_cuda_bf16("to_bfloat16", t, [&](auto s) {
    if (channels_last)
      to_bfloat16_channels_last(s, t.size(0), t.size(1), t.size(2) * t.size(3), t.data<float>(), out);
    else
      to_bfloat16(s, t.numel(), t.data<float>(), out);
  });
}

}  // namespace minidl::ops_detail
