// Linear, as torch.nn.Linear: y = x weight^T + bias.
#pragma once

#include "minidl/layers/module.h"

namespace minidl {

class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true, DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }

  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined
};

}  // namespace minidl
