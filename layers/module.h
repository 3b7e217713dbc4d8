// Module: the base of every layer and model, with PyTorch's vocabulary. A module owns named
// parameters (trainable tensors), buffers (state such as running statistics) and submodules;
// names join with dots, so a model's state_dict() keys are the ones PyTorch would use
// ("layer2.0.downsample.1.running_var").
//
// A submodule kept in a field is registered together with that field, and the registry reads
// the field itself, so there is one truth: replacing the field (`model->fc =
// std::make_shared<Linear>(512, 3)`, or `model->replace_module("fc", ...)`) changes forward(),
// named_parameters() and state_dict() together, as assigning an attribute does in PyTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
class Module;

// Undoes a register_forward_hook / register_forward_pre_hook. Harmless after the module is gone.
class HookHandle {
 public:
  HookHandle() = default;
  void remove();

 private:
  friend class Module;
  struct Hooks;
  HookHandle(std::weak_ptr<Hooks> hooks, std::uint64_t id) : hooks_(std::move(hooks)), id_(id) {}
  std::weak_ptr<Hooks> hooks_;
  std::uint64_t id_ = 0;
};

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;  // the registry points into the object: it must not move
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  // forward() with the forward hooks around it (PyTorch's module(x)). Modules call their
  // submodules this way, so a hook on any of them sees every call.
  Tensor operator()(const Tensor& x);
  // The class name, for printing ("Conv2d").
  virtual std::string type_name() const = 0;

  // ----- parameters and state -----
  // In registration order, recursing into submodules, as PyTorch orders them.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  // Parameters then buffers of each module, depth first: PyTorch's state_dict() order.
  NamedTensors state_dict() const;
  // Copies values into this module's tensors (converting dtype, moving device). With strict,
  // every missing key, unexpected key and shape mismatch is named in one error. Takes what
  // state_dict() returns as well as a map (a checkpoint file's tensors).
  void load_state_dict(const NamedTensors& state, bool strict = true);
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  // Number of parameter elements: those that require grad, or all of them. Buffers never count.
  std::int64_t num_parameters(bool trainable_only = true) const;
  // Sets requires_grad on every parameter (freezing: `backbone.requires_grad_(false)`).
  Module& requires_grad_(bool requires = true);

  // ----- submodules -----
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // This module (name "") and every submodule below it, depth first, with dotted names
  // ("layer1.0.bn1"). The pointers are the modules themselves, alive as long as this one.
  std::vector<std::pair<std::string, Module*>> named_modules() const;
  // The submodule at a dotted path ("layer4.1.conv2"); throws naming the missing part.
  std::shared_ptr<Module> get_submodule(const std::string& path) const;
  // Puts `m` in place of the submodule at a dotted path: the field that holds it, forward(),
  // named_parameters() and state_dict() all see the new one. Throws if there is no such
  // submodule or the field is declared with a type `m` is not. Returns m.
  std::shared_ptr<Module> replace_module(const std::string& path, std::shared_ptr<Module> m);
  // fn on every submodule, children first, then on this module (PyTorch's apply).
  Module& apply(const std::function<void(Module&)>& fn);

  // ----- hooks -----
  // fn(module, input, output) after every operator() call; a hook that returns a defined
  // tensor replaces the output. fn may also return void (to look, not to change).
  template <typename F>
  HookHandle register_forward_hook(F fn) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, Module&, const Tensor&, const Tensor&>>)
      return add_forward_hook([fn](Module& m, const Tensor& in, const Tensor& out) mutable {
        fn(m, in, out);
        return Tensor();
      });
    else
      return add_forward_hook(std::move(fn));
  }
  // Whether any forward or pre-forward hook is registered: a model that fuses this module's work
  // with its neighbour's (ResNet's batch norm + ReLU) calls it unfused then, so hooks see it.
  bool has_hooks() const;
  // fn(module, input) before every operator() call; a defined result replaces the input.
  template <typename F>
  HookHandle register_forward_pre_hook(F fn) {
    if constexpr (std::is_void_v<std::invoke_result_t<F&, Module&, const Tensor&>>)
      return add_forward_pre_hook([fn](Module& m, const Tensor& in) mutable {
        fn(m, in);
        return Tensor();
      });
    else
      return add_forward_pre_hook(std::move(fn));
  }

  // ----- mode and device -----
  // Training mode (batch statistics in BatchNorm, dropout on) or evaluation mode, for this
  // module and all submodules. The mode is the caller's choice, never fixed when a layer is
  // built; to keep one part in eval while the rest trains, call eval() on that part after
  // train() on the whole.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves every floating parameter and buffer (in place, so existing handles follow); integer
  // counters stay on the host.
  void to(Device device);
  // Forgets every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

 protected:
  Tensor& register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor t);

  // Registers the field `field` of this module (a std::shared_ptr<M> member) as submodule
  // `name` and sets it to m. The registry reads the field, so whatever the field holds later
  // is the submodule. Returns the field.
  //   register_module("fc", fc, std::make_shared<Linear>(512, 7));
  template <typename M>
  std::shared_ptr<M>& register_module(const std::string& name, std::shared_ptr<M>& field, std::shared_ptr<M> m) {
    field = std::move(m);
    std::shared_ptr<M>* slot = &field;
    add_child(name, [slot] { return std::static_pointer_cast<Module>(*slot); },
              [slot, name, this](std::shared_ptr<Module> next) {
                auto typed = std::dynamic_pointer_cast<M>(next);
                check_replacement(name, *slot, next, typed != nullptr);
                *slot = std::move(typed);
              });
    return field;
  }
  // Registers a submodule this module keeps in no field of its own (Sequential's layers): the
  // registry holds it. Returns nothing on purpose: a copy kept in a field would not follow a
  // replacement; use the three-argument form for a field.
  void register_module(const std::string& name, std::shared_ptr<Module>&& m);
  // A named shared_ptr is most likely a field (or a local that dies): say which on purpose,
  // with the three-argument form or std::move.
  template <typename M>
  void register_module(const std::string& name, std::shared_ptr<M>& m) = delete;

 private:
  using ForwardHook = std::function<Tensor(Module&, const Tensor&, const Tensor&)>;
  using ForwardPreHook = std::function<Tensor(Module&, const Tensor&)>;
  struct Child {
    std::string name;
    std::function<std::shared_ptr<Module>()> get;
    std::function<void(std::shared_ptr<Module>)> set;
  };
  HookHandle add_forward_hook(ForwardHook fn);
  HookHandle add_forward_pre_hook(ForwardPreHook fn);
  void add_child(const std::string& name, std::function<std::shared_ptr<Module>()> get,
                 std::function<void(std::shared_ptr<Module>)> set);
  void check_replacement(const std::string& name, const std::shared_ptr<Module>& old_module,
                         const std::shared_ptr<Module>& next, bool type_fits) const;
  const Child& child(const std::string& name) const;
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out) const;

  // Members keep copies of the handles (which share the TensorImpl), so a vector is enough.
  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<Child> children_;
  std::shared_ptr<HookHandle::Hooks> hooks_;  // null until a hook is registered
  bool training_ = true;
};

}  // namespace minidl
