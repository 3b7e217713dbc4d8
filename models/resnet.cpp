#include "minidl/models/resnet.h"

#include <typeinfo>

#include "minidl/layers/init.h"

namespace minidl {

namespace {
std::shared_ptr<Conv2d> conv3x3(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return std::make_shared<Conv2d>(Conv2dSpec{in, out, 3, stride, 1, 1, 1, false});
}

// relu(bn(x)): fused into the batch norm kernels (BatchNorm2d::forward_relu) unless something
// could tell the difference: a hook on either module, or either one replaced (replace_module) by
// a subclass with a forward of its own. `relu` stays a registered module either way, as in
// torchvision, so the module tree, its printout and the ONNX export do not change.
Tensor bn_relu(BatchNorm2d& bn, ReLU& relu, const Tensor& x) {
  const bool plain = typeid(bn) == typeid(BatchNorm2d) && typeid(relu) == typeid(ReLU);
  return plain && !bn.has_hooks() && !relu.has_hooks() ? bn.forward_relu(x) : relu(bn(x));
}
}  // namespace

BasicBlock::BasicBlock(std::int64_t in_planes, std::int64_t planes, std::int64_t stride) {
  register_module("conv1", conv1, conv3x3(in_planes, planes, stride));
  register_module("bn1", bn1, std::make_shared<BatchNorm2d>(planes));
  register_module("relu", relu, std::make_shared<ReLU>());
  register_module("conv2", conv2, conv3x3(planes, planes, 1));
  register_module("bn2", bn2, std::make_shared<BatchNorm2d>(planes));
  if (stride != 1 || in_planes != planes) {
    register_module(
        "downsample", downsample, std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
                          std::make_shared<Conv2d>(Conv2dSpec{in_planes, planes, 1, stride, 0, 1, 1, false}),
                          std::make_shared<BatchNorm2d>(planes)}));
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = bn_relu(*bn1, *relu, (*conv1)(x));
  out = (*bn2)((*conv2)(out));
  const Tensor identity = downsample ? (*downsample)(x) : x;
  return add_relu(out, identity);  // relu(out + identity) in one pass
}

ResNet::ResNet(const ResNetOptions& opt) : opt_(opt) {
  MINIDL_CHECK(opt.in_channels > 0 && opt.num_classes > 0 && opt.width > 0, "ResNet: in_channels (",
               opt.in_channels, "), num_classes (", opt.num_classes, ") and width (", opt.width,
               ") must be positive");
  const std::int64_t w = opt.width;
  register_module("conv1", conv1, std::make_shared<Conv2d>(Conv2dSpec{opt.in_channels, w, 7, 2, 3, 1, 1, false}));
  register_module("bn1", bn1, std::make_shared<BatchNorm2d>(w));
  register_module("relu", relu, std::make_shared<ReLU>());
  register_module("maxpool", maxpool, std::make_shared<MaxPool2d>(3, 2, 1));
  std::int64_t in = w;
  auto stage = [&](std::int64_t planes, std::int64_t stride) {
    auto s = std::make_shared<Sequential>();
    s->push_back(std::make_shared<BasicBlock>(in, planes, stride));
    s->push_back(std::make_shared<BasicBlock>(planes, planes, 1));
    in = planes;
    return s;
  };
  register_module("layer1", layer1, stage(w, 1));
  register_module("layer2", layer2, stage(2 * w, 2));
  register_module("layer3", layer3, stage(4 * w, 2));
  register_module("layer4", layer4, stage(8 * w, 2));
  register_module("avgpool", avgpool, std::make_shared<AdaptiveAvgPool2d>(1, 1));
  register_module("fc", fc, std::make_shared<Linear>(8 * w, opt.num_classes));

  // torchvision's initialisation: every conv kaiming_normal (fan_out, relu); BatchNorm weight 1
  // and bias 0 (their constructors' defaults); fc keeps Linear's default.
  for (auto& [name, p] : named_parameters())
    if (p.dim() == 4) init::kaiming_normal_fan_out_(p);
}

Tensor ResNet::forward(const Tensor& x) {
  return (*fc)(features(x));
}

Tensor ResNet::features(const Tensor& x) {
  MINIDL_CHECK(x.dim() == 4 && x.size(1) == opt_.in_channels, "ResNet: expected input [n, ", opt_.in_channels,
               ", h, w], got ", shape_str(x.shape()));
  Tensor h = (*maxpool)(bn_relu(*bn1, *relu, (*conv1)(x)));
  h = (*layer4)((*layer3)((*layer2)((*layer1)(h))));
  return flatten((*avgpool)(h), 1);
}

std::vector<ConvAtInput> ResNet::conv_inputs(std::int64_t h, std::int64_t w) const {
  std::vector<ConvAtInput> out;
  // (size + 2 pad - extent) / stride + 1, PyTorch's floor mode; a kernel of k taps `dilation`
  // apart spans extent = dilation (k - 1) + 1 inputs.
  auto out_size = [](std::int64_t size, std::int64_t k, std::int64_t stride, std::int64_t pad,
                     std::int64_t dilation = 1) {
    const std::int64_t span = size + 2 * pad - (dilation * (k - 1) + 1);
    return span < 0 ? std::int64_t(0) : span / stride + 1;
  };
  auto add = [&](const Conv2d& conv, std::int64_t& ih, std::int64_t& iw) {
    const Conv2dSpec& s = conv.spec();
    const std::int64_t oh = out_size(ih, s.kernel_size, s.stride, s.padding, s.dilation);
    const std::int64_t ow = out_size(iw, s.kernel_size, s.stride, s.padding, s.dilation);
    MINIDL_CHECK(oh > 0 && ow > 0, "ResNet: input ", h, "x", w, " is too small for its convolutions");
    out.push_back({s, ih, iw, oh, ow});
    ih = oh;
    iw = ow;
  };
  std::int64_t ch = h, cw = w;
  add(*conv1, ch, cw);
  ch = out_size(ch, 3, 2, 1);  // maxpool 3x3 stride 2 padding 1
  cw = out_size(cw, 3, 2, 1);
  for (const auto& stage : {layer1, layer2, layer3, layer4})
    for (std::size_t b = 0; b < stage->size(); ++b) {
      const auto& block = static_cast<const BasicBlock&>(*(*stage)[b]);
      std::int64_t ih = ch, iw = cw;
      add(*block.conv1, ch, cw);
      add(*block.conv2, ch, cw);
      if (block.downsample) add(static_cast<const Conv2d&>(*(*block.downsample)[0]), ih, iw);
    }
  return out;
}

double ResNet::forward_flops(std::int64_t h, std::int64_t w) const {
  double flops = 2.0 * fc->weight.size(0) * fc->weight.size(1);
  for (const ConvAtInput& c : conv_inputs(h, w))
    flops += 2.0 * c.spec.out_channels * (c.spec.in_channels / c.spec.groups) * c.spec.kernel_size *
             c.spec.kernel_size * c.oh * c.ow;
  return flops;
}

std::shared_ptr<ResNet> resnet18(std::int64_t in_channels, std::int64_t num_classes, std::int64_t width) {
  return std::make_shared<ResNet>(ResNetOptions{in_channels, num_classes, width});
}

}  // namespace minidl
