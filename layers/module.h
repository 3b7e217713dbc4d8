// Module: the base of every layer and model, with PyTorch's vocabulary. A module owns named
// parameters (trainable tensors), buffers (state such as running statistics) and submodules;
// names join with dots, so a model's state_dict() keys are the ones PyTorch would use
// ("layer2.0.downsample.1.running_var").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
  // The class name, for printing ("Conv2d").
  virtual std::string type_name() const = 0;

  // In registration order, recursing into submodules, as PyTorch orders them.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const { return children_; }
  // Parameters then buffers of each module, depth first: PyTorch's state_dict() order.
  NamedTensors state_dict() const;
  // Copies values into this module's tensors (converting dtype, moving device). With strict,
  // every missing key, unexpected key and shape mismatch is named in one error.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // Training mode (batch statistics in BatchNorm) or evaluation mode, for this module and all
  // submodules. The mode is the caller's choice, never fixed when a layer is built.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves every floating parameter and buffer (in place, so existing handles follow); integer
  // counters stay on the host.
  void to(Device device);
  // Forgets every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();
  std::int64_t num_parameters(bool trainable_only = true) const;

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;

  // Deques would keep references stable; we return references only during construction and
  // members keep copies of the handle, which share the TensorImpl, so a vector is enough.
  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace minidl
