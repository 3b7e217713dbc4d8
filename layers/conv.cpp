#include "minidl/layers/conv.h"

#include "minidl/layers/init.h"

namespace minidl {

Conv2d::Conv2d(const Conv2dSpec& spec, DType dtype) : spec_(spec) {
  MINIDL_CHECK(spec.in_channels > 0 && spec.out_channels > 0 && spec.kernel_size > 0 && spec.stride > 0 &&
                   spec.padding >= 0,
               "Conv2d: invalid spec (in ", spec.in_channels, ", out ", spec.out_channels, ", kernel ",
               spec.kernel_size, ", stride ", spec.stride, ", padding ", spec.padding, ")");
  weight = register_parameter(
      "weight", Tensor::empty({spec.out_channels, spec.in_channels, spec.kernel_size, spec.kernel_size}, dtype));
  init::default_weight_(weight);
  if (spec.bias) {
    bias = register_parameter("bias", Tensor::empty({spec.out_channels}, dtype));
    init::default_bias_(bias, init::fan_in(weight));
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias, {{spec_.stride, spec_.stride}, {spec_.padding, spec_.padding}});
}

}  // namespace minidl
