// The precision policy's one kernel: operands rounded to bf16 on their device.
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

}  // namespace minidl::ops_detail
