// Sequential: children named "0", "1", ... applied in order, as torch.nn.Sequential. The
// layers live in the module registry itself, so replace_module("1", ...) changes forward too.
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
    MINIDL_CHECK(m != nullptr, "Sequential::push_back: null module");
    register_module(std::to_string(size_), std::move(m));
    ++size_;
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (auto& [name, layer] : named_children()) h = (*layer)(h);
    return h;
  }
  std::string type_name() const override { return "Sequential"; }
  std::size_t size() const { return size_; }
  std::shared_ptr<Module> operator[](std::size_t i) const {
    MINIDL_CHECK(i < size_, "Sequential: index ", i, " out of range (size ", size_, ")");
    return get_submodule(std::to_string(i));
  }

 private:
  std::size_t size_ = 0;
};

}  // namespace minidl
