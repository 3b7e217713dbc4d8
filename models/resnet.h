// ResNet-18 exactly as torchvision builds it (4 stages of 2 BasicBlocks, maxpool after the
// stem, adaptive average pool, fc), with the stem's input channels, the class count and the
// base width as options. The FER model is resnet18(1, 7): conv1 = Conv2d(1, 64, 7, stride 2,
// padding 3, bias=False), fc = Linear(512, 7). Parameter names, shapes and initialisation are
// torchvision's, so state_dict() keys match PyTorch's.
#pragma once

#include <memory>
#include <vector>


#include "minidl/layers/batch_norm.h"
#include "minidl/layers/conv.h"
#include "minidl/layers/linear.h"
#include "minidl/layers/sequential.h"
#include "minidl/layers/simple.h"

namespace minidl {

class BasicBlock : public Module {
 public:
  BasicBlock(std::int64_t in_planes, std::int64_t planes, std::int64_t stride);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "BasicBlock"; }

  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<Sequential> downsample;  // 1x1 conv + bn when the shape changes, else null
};

// One convolution of the model and the size of the map it reads (and the one it writes).
struct ConvAtInput {
  Conv2dSpec spec;
  std::int64_t h, w;    // input
  std::int64_t oh, ow;  // output
};

struct ResNetOptions {
  std::int64_t in_channels = 1;
  std::int64_t num_classes = 7;
  std::int64_t width = 64;  // channels of the first stage; the stages use width * {1, 2, 4, 8}
};

class ResNet : public Module {
 public:
  explicit ResNet(const ResNetOptions& opt);
  Tensor forward(const Tensor& x) override;  // fc(features(x))
  // Everything up to the classifier: the pooled, flattened [n, 8 * width] features (what
  // feature extraction wants; a forward hook on any submodule gives its output too).
  Tensor features(const Tensor& x);
  std::string type_name() const override { return "ResNet"; }
  const ResNetOptions& options() const { return opt_; }
  // Every convolution (20 of them) as it runs on an h x w input, in forward order: what the FLOP
  // count and the convolution benchmarks are computed from.
  std::vector<ConvAtInput> conv_inputs(std::int64_t h, std::int64_t w) const;
  // Multiply-adds x 2 of one forward pass (convolutions and fc) per image.
  double forward_flops(std::int64_t h, std::int64_t w) const;

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<ReLU> relu;
  std::shared_ptr<MaxPool2d> maxpool;
  std::shared_ptr<Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<Linear> fc;

 private:
  ResNetOptions opt_;
};

// torchvision.models.resnet18 with conv1 = Conv2d(in_channels, width, 7, 2, 3, bias=False) and
// fc = Linear(8 * width, num_classes).
std::shared_ptr<ResNet> resnet18(std::int64_t in_channels = 1, std::int64_t num_classes = 7, std::int64_t width = 64);

}  // namespace minidl
