#include "minidl/layers/module.h"

#include <set>

namespace minidl {

// ----- hooks -----

struct HookHandle::Hooks {
  std::uint64_t next_id = 1;
  std::vector<std::pair<std::uint64_t, std::function<Tensor(Module&, const Tensor&, const Tensor&)>>> forward;
  std::vector<std::pair<std::uint64_t, std::function<Tensor(Module&, const Tensor&)>>> pre;
};

void HookHandle::remove() {
  if (auto h = hooks_.lock()) {
    auto drop = [&](auto& list) {
      for (auto it = list.begin(); it != list.end(); ++it)
        if (it->first == id_) {
          list.erase(it);
          return;
        }
    };
    drop(h->forward);
    drop(h->pre);
  }
  hooks_.reset();
}

HookHandle Module::add_forward_hook(ForwardHook fn) {
  if (!hooks_) hooks_ = std::make_shared<HookHandle::Hooks>();
  const std::uint64_t id = hooks_->next_id++;
  hooks_->forward.emplace_back(id, std::move(fn));
  return HookHandle(hooks_, id);
}

HookHandle Module::add_forward_pre_hook(ForwardPreHook fn) {
  if (!hooks_) hooks_ = std::make_shared<HookHandle::Hooks>();
  const std::uint64_t id = hooks_->next_id++;
  hooks_->pre.emplace_back(id, std::move(fn));
  return HookHandle(hooks_, id);
}

bool Module::has_hooks() const { return hooks_ && (!hooks_->pre.empty() || !hooks_->forward.empty()); }

Tensor Module::operator()(const Tensor& x) {
  if (!hooks_ || (hooks_->pre.empty() && hooks_->forward.empty())) return forward(x);
  // Copies of the lists: a hook may remove itself (or another) while they run.
  const auto hooks = hooks_;
  Tensor in = x;
  for (auto [id, fn] : std::vector(hooks->pre)) {
    Tensor replaced = fn(*this, in);
    if (replaced.defined()) in = replaced;
  }
  Tensor out = forward(in);
  for (auto [id, fn] : std::vector(hooks->forward)) {
    Tensor replaced = fn(*this, in, out);
    if (replaced.defined()) out = replaced;
  }
  return out;
}

// ----- registration -----

Tensor& Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  if (requires_grad) t.requires_grad_();
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::function<std::shared_ptr<Module>()> get,
                       std::function<void(std::shared_ptr<Module>)> set) {
  MINIDL_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ": submodule name '", name,
               "' must be non-empty and without dots");
  for (const auto& c : children_)
    MINIDL_CHECK(c.name != name, type_name(), ": a submodule named '", name, "' is already registered");
  children_.push_back({name, std::move(get), std::move(set)});
}

void Module::register_module(const std::string& name, std::shared_ptr<Module>&& m) {
  auto cell = std::make_shared<std::shared_ptr<Module>>(std::move(m));
  add_child(name, [cell] { return *cell; },
            [cell, name, this](std::shared_ptr<Module> next) {
              check_replacement(name, *cell, next, true);
              *cell = std::move(next);
            });
}

void Module::check_replacement(const std::string& name, const std::shared_ptr<Module>& old_module,
                               const std::shared_ptr<Module>& next, bool type_fits) const {
  MINIDL_CHECK(next != nullptr, type_name(), ".", name, ": cannot replace a submodule with null");
  MINIDL_CHECK(type_fits, type_name(), ".", name, " is a field of type ",
               old_module ? old_module->type_name() : std::string("(its declared type)"), "; a ", next->type_name(),
               " cannot take its place (declare the field as std::shared_ptr<Module> to hold any module)");
}

const Module::Child& Module::child(const std::string& name) const {
  for (const auto& c : children_)
    if (c.name == name) return c;
  std::string have;
  for (const auto& c : children_) have += (have.empty() ? "" : ", ") + c.name;
  MINIDL_FAIL(type_name(), " has no submodule '", name, "' (it has: ", have.empty() ? "none" : have, ")");
}

// ----- submodules -----

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  for (const auto& c : children_)
    if (auto m = c.get()) out.emplace_back(c.name, std::move(m));
  return out;
}

void Module::collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out) const {
  out.emplace_back(prefix, const_cast<Module*>(this));
  for (const auto& [n, m] : named_children()) m->collect_modules(prefix.empty() ? n : prefix + "." + n, out);
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, Module*>> out;
  collect_modules("", out);
  return out;
}

namespace {
// "layer4.1.conv2" -> the parent path "layer4.1" and the last name "conv2".
std::pair<std::string, std::string> split_last(const std::string& path) {
  const auto dot = path.rfind('.');
  if (dot == std::string::npos) return {"", path};
  return {path.substr(0, dot), path.substr(dot + 1)};
}
}  // namespace

std::shared_ptr<Module> Module::get_submodule(const std::string& path) const {
  MINIDL_CHECK(!path.empty(), type_name(), ".get_submodule: empty path");
  const auto [parent, last] = split_last(path);
  const Module* owner = this;
  std::shared_ptr<Module> keep;
  if (!parent.empty()) {
    keep = get_submodule(parent);
    owner = keep.get();
  }
  std::shared_ptr<Module> m = owner->child(last).get();
  MINIDL_CHECK(m != nullptr, type_name(), ": submodule '", path, "' is empty");
  return m;
}

std::shared_ptr<Module> Module::replace_module(const std::string& path, std::shared_ptr<Module> m) {
  MINIDL_CHECK(!path.empty(), type_name(), ".replace_module: empty path");
  const auto [parent, last] = split_last(path);
  Module* owner = parent.empty() ? this : get_submodule(parent).get();
  owner->child(last).set(m);
  return m;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [n, m] : named_children()) m->apply(fn);
  fn(*this);
  return *this;
}

// ----- parameters and state -----

void Module::collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const {
  if (params)
    for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : named_children()) m->collect(prefix + n + ".", params, buffers, out);
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

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::map<std::string, Tensor> m;
  for (const auto& [name, t] : state)
    MINIDL_CHECK(m.emplace(name, t).second, "load_state_dict: key '", name, "' appears twice");
  load_state_dict(m, strict);
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

std::int64_t Module::num_parameters(bool trainable_only) const {
  std::int64_t n = 0;
  for (const auto& [name, t] : named_parameters())
    if (!trainable_only || t.requires_grad()) n += t.numel();
  return n;
}

Module& Module::requires_grad_(bool requires) {
  for (auto& [name, p] : named_parameters()) p.requires_grad_(requires);
  return *this;
}

// ----- mode and device -----

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : named_children()) m->train(on);
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

}  // namespace minidl
