// Conv2d, as torch.nn.Conv2d: Conv2dSpec{in, out, kernel, stride, padding, dilation, groups, bias},
// the fields in torch.nn.Conv2d's order. The weight is [out, in / groups, kernel, kernel].
#pragma once

#include "minidl/core/ops.h"
#include "minidl/layers/module.h"

namespace minidl {

struct Conv2dSpec {
  std::int64_t in_channels, out_channels, kernel_size;
  std::int64_t stride = 1, padding = 0;
  std::int64_t dilation = 1, groups = 1;  // groups divides in and out; groups == in: depthwise
  bool bias = true;
};

class Conv2d : public Module {
 public:
  explicit Conv2d(const Conv2dSpec& spec, DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  const Conv2dSpec& spec() const { return spec_; }

  Tensor weight;  // [out, in / groups, k, k]
  Tensor bias;    // [out] or undefined

 private:
  Conv2dSpec spec_;
};

}  // namespace minidl
