// Sequential: children named "0", "1", ... applied in order, as torch.nn.Sequential.
#pragma once

#include "minidl/layers/module.h"

namespace minidl {

class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> layers) {
    for (auto& l : layers) push_back(std::move(l));
  }
  void push_back(std::shared_ptr<Module> m) {
    layers_.push_back(register_module(std::to_string(layers_.size()), std::move(m)));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (auto& l : layers_) h = l->forward(h);
    return h;
  }
  std::string type_name() const override { return "Sequential"; }
  std::size_t size() const { return layers_.size(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const { return layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace minidl
