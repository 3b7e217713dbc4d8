#include "minidl/layers/module.h"

#include <set>

namespace minidl {

Tensor& Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  if (requires_grad) t.requires_grad_();
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return buffers_.back().second;
}

void Module::collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const {
  if (params)
    for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) m->collect(prefix + n + ".", params, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  const NamedTensors own = state_dict();
  for (const auto& [name, t] : own) {
    auto it = state.find(name);
    if (it == state.end()) {
      missing.push_back(name);
      continue;
    }
    used.insert(name);
    if (it->second.shape() != t.shape())
      mismatched.push_back(detail::str(name, ": checkpoint ", shape_str(it->second.shape()), ", model ",
                                       shape_str(t.shape())));
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : state)
    if (!used.count(name)) unexpected.push_back(name);
  if (!mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()))) {
    std::string msg = "load_state_dict: the state does not match the model";
    // A few of each: a checkpoint of another model would otherwise list hundreds of names.
    constexpr std::size_t kShown = 8;
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      msg += detail::str("\n  ", what, " (", v.size(), "):");
      for (std::size_t i = 0; i < v.size() && i < kShown; ++i) msg += "\n    " + v[i];
      if (v.size() > kShown) msg += detail::str("\n    ... and ", v.size() - kShown, " more");
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("shape mismatches", mismatched);
    throw Error(msg);
  }
  for (const auto& [name, t] : own) {
    auto it = state.find(name);
    if (it == state.end()) continue;
    const Tensor& src = it->second;
    // Convert on the host when the dtype differs (e.g. a float64 file into float32 weights).
    t.copy_(src.dtype() == t.dtype() ? src : src.to(Device::cpu()).to(t.dtype()));
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::to(Device device) {
  // Integer buffers (BatchNorm's num_batches_tracked) are host-side counters: they stay on the
  // CPU, so counting never waits on a GPU.
  for (auto& [n, t] : state_dict()) {
    if (t.device() == device || !is_floating(t.dtype())) continue;
    t.set_data(t.to(device));
    if (t.grad().defined()) t.set_grad(t.grad().to(device));
  }
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.set_grad(Tensor());
}

std::int64_t Module::num_parameters(bool trainable_only) const {
  std::int64_t n = 0;
  for (auto& [name, t] : trainable_only ? named_parameters() : state_dict()) n += t.numel();
  return n;
}

}  // namespace minidl
