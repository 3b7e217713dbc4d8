#include "minidl/layers/conv.h"

#include "minidl/layers/init.h"

namespace minidl {

Conv2d::Conv2d(const Conv2dSpec& spec, DType dtype) : spec_(spec) {
  // Dilation and groups come before bias, as in torch.nn.Conv2d: a spec written for the older
  // {in, out, kernel, stride, padding, bias} puts its bias flag in `dilation`, where false (0)
  // fails the check below and true (1) means what it meant before.
  MINIDL_CHECK(spec.in_channels > 0 && spec.out_channels > 0 && spec.kernel_size > 0 && spec.stride > 0 &&
                   spec.padding >= 0 && spec.dilation > 0 && spec.groups > 0,
               "Conv2d: invalid spec (in ", spec.in_channels, ", out ", spec.out_channels, ", kernel ",
               spec.kernel_size, ", stride ", spec.stride, ", padding ", spec.padding, ", dilation ", spec.dilation,
               ", groups ", spec.groups,
               "): sizes, stride, dilation and groups must be positive, padding non-negative (the fields are {in, "
               "out, kernel, stride, padding, dilation, groups, bias})");
  MINIDL_CHECK(spec.in_channels % spec.groups == 0 && spec.out_channels % spec.groups == 0, "Conv2d: groups ",
               spec.groups, " must divide in_channels ", spec.in_channels, " and out_channels ", spec.out_channels);
  weight = register_parameter("weight", Tensor::empty({spec.out_channels, spec.in_channels / spec.groups,
                                                       spec.kernel_size, spec.kernel_size},
                                                      dtype));
  init::default_weight_(weight);
  if (spec.bias) {
    bias = register_parameter("bias", Tensor::empty({spec.out_channels}, dtype));
    init::default_bias_(bias, init::fan_in(weight));
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  return conv2d(x, weight, bias,
                {{spec_.stride, spec_.stride}, {spec_.padding, spec_.padding}, {spec_.dilation, spec_.dilation},
                 spec_.groups});
}

}  // namespace minidl
