#include "minidl/layers/optim.h"

#include <cmath>
#include <set>

#include "minidl/core/autograd.h"
#include "minidl/core/cuda_graph.h"
#include "minidl/core/ops.h"
#include "minidl/core/optim_step.h"

namespace minidl {

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, const char* name) {
  MINIDL_CHECK(!groups.empty(), name, ": no parameter groups");
  std::set<std::string> names;
  std::set<const TensorImpl*> seen;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    ParamGroup& pg = groups[g];
    const double glr = pg.lr.value_or(lr), gwd = pg.weight_decay.value_or(weight_decay);
    MINIDL_CHECK(glr >= 0 && gwd >= 0, name, ": parameter group ", g, " has lr ", glr, " and weight_decay ", gwd,
                 " (both must be non-negative)");
    for (const auto& [pname, p] : pg.params) {
      MINIDL_CHECK(p.defined() && is_floating(p.dtype()), name, ": parameter '", pname, "' is not a floating tensor");
      MINIDL_CHECK(p.is_leaf(), name, ": parameter '", pname, "' is not a leaf tensor (an op's output cannot be optimised)");
      MINIDL_CHECK(names.insert(pname).second, name, ": parameter name '", pname, "' appears twice");
      MINIDL_CHECK(seen.insert(p.impl()).second, name, ": parameter '", pname, "' is in more than one group");
    }
    groups_.push_back({std::move(pg.params), glr, gwd, Tensor()});
    state_.emplace_back(groups_.back().params.size());
  }
}

const NamedTensors& Optimizer::params(std::size_t group) const {
  MINIDL_CHECK(group < groups_.size(), "optimizer: parameter group ", group, " of ", groups_.size());
  return groups_[group].params;
}

double Optimizer::lr(std::size_t group) const {
  MINIDL_CHECK(group < groups_.size(), "optimizer: parameter group ", group, " of ", groups_.size());
  return groups_[group].lr;
}

double Optimizer::weight_decay(std::size_t group) const {
  MINIDL_CHECK(group < groups_.size(), "optimizer: parameter group ", group, " of ", groups_.size());
  return groups_[group].weight_decay;
}

void Optimizer::set_lr(double lr) {
  MINIDL_CHECK(lr >= 0, "optimizer: learning rate ", lr, " is negative");
  for (auto& g : groups_) g.lr = lr;
}

void Optimizer::set_lr(std::size_t group, double lr) {
  MINIDL_CHECK(group < groups_.size(), "optimizer: parameter group ", group, " of ", groups_.size());
  MINIDL_CHECK(lr >= 0, "optimizer: learning rate ", lr, " is negative");
  groups_[group].lr = lr;
}

std::optional<Device> Optimizer::group_gpu(std::size_t g) const {
  const NamedTensors& params = groups_[g].params;
  if (params.empty() || !params[0].second.device().is_cuda()) return std::nullopt;
  const Device d = params[0].second.device();
  for (const auto& [name, p] : params)
    if (p.device() != d) return std::nullopt;
  return d;
}

Tensor Optimizer::step_scalars_for(std::size_t g) {
  const std::optional<Device> gpu = group_gpu(g);
  if (!gpu) return Tensor();
  Tensor& t = groups_[g].scalars;
  if (is_current_stream_capturing(*gpu)) {
    // Made and written before the capture (GraphedStep does both), so that the graph reads the
    // memory each replay's numbers are written to.
    MINIDL_CHECK(t.defined() && t.device() == *gpu, "optimizer step in a CUDA graph capture: parameter group ", g,
                 " has no per-step numbers on ", gpu->str(), " yet; call write_step_scalars() before the capture "
                 "(layers/graphed_step.h does)");
    return t;
  }
  if (!t.defined() || t.device() != *gpu) t = Tensor::empty({num_step_scalars()}, DType::Float64, *gpu);
  write_group_scalars(g, t);
  return t;
}

void Optimizer::write_step_scalars() {
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const std::optional<Device> gpu = group_gpu(g);
    MINIDL_CHECK(!gpu || !is_current_stream_capturing(*gpu), "optimizer write_step_scalars: ", gpu->str(),
                 " is capturing a CUDA graph; write them before the capture and before each replay");
    if (gpu) step_scalars_for(g);
  }
}

std::vector<double> Optimizer::step_scalars() const {
  std::vector<double> v;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    if (group_gpu(g)) continue;
    v.push_back(groups_[g].lr);
    v.push_back(groups_[g].weight_decay);
  }
  return v;
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& [name, p] : g.params) p.set_grad(Tensor());
}

Tensor& Optimizer::state(std::size_t g, std::size_t j, const char* name, bool* created) {
  Tensor& t = state_[g][j][name];
  const Tensor& p = groups_[g].params[j].second;
  const bool make = !t.defined() || t.device() != p.device();
  if (make) t = Tensor::zeros(p.shape(), p.dtype(), p.device());
  if (created) *created = make;
  return t;
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  for (std::size_t g = 0; g < groups_.size(); ++g)
    for (std::size_t j = 0; j < groups_[g].params.size(); ++j)
      for (const auto& [k, t] : state_[g][j]) out.emplace_back(groups_[g].params[j].first + "." + k, t);
  Tensor step = Tensor::zeros({}, DType::Int64);
  *step.data<std::int64_t>() = steps_;
  out.emplace_back("step", step);
  return out;
}

void Optimizer::load_state_dict(const NamedTensors& saved) {
  std::map<std::string, Tensor> m;
  for (const auto& [k, t] : saved)
    MINIDL_CHECK(m.emplace(k, t).second, "optimizer load_state_dict: key '", k, "' appears twice");
  load_state_dict(m);
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& saved) {
  auto it = saved.find("step");
  MINIDL_CHECK(it != saved.end(), "optimizer load_state_dict: no 'step' entry");
  steps_ = static_cast<std::int64_t>(it->second.item());
  for (std::size_t g = 0; g < groups_.size(); ++g)
    for (std::size_t j = 0; j < groups_[g].params.size(); ++j) {
      state_[g][j].clear();
      const std::string prefix = groups_[g].params[j].first + ".";
      const Tensor& p = groups_[g].params[j].second;
      for (const auto& [k, t] : saved) {
        if (k.compare(0, prefix.size(), prefix) != 0 || k.find('.', prefix.size()) != std::string::npos) continue;
        MINIDL_CHECK(t.shape() == p.shape(), "optimizer load_state_dict: '", k, "' has shape ", shape_str(t.shape()),
                     ", parameter has ", shape_str(p.shape()));
        Tensor& dst = state(g, j, k.substr(prefix.size()).c_str());
        dst.copy_(t.dtype() == p.dtype() ? t : t.to(p.dtype()));
      }
    }
}

namespace {
std::vector<ParamGroup> one_group(NamedTensors params) {
  std::vector<ParamGroup> g;
  g.emplace_back(std::move(params));
  return g;
}
}  // namespace

SGD::SGD(NamedTensors params, const SGDOptions& opt) : SGD(one_group(std::move(params)), opt) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& opt)
    : Optimizer(std::move(groups), opt.lr(), opt.weight_decay(), "SGD"), opt_(opt) {
  MINIDL_CHECK(opt.lr() >= 0 && opt.momentum() >= 0 && opt.weight_decay() >= 0 && opt.dampening() >= 0,
               "SGD: lr (", opt.lr(), "), momentum (", opt.momentum(), "), dampening (", opt.dampening(),
               ") and weight_decay (", opt.weight_decay(), ") must be non-negative");
  MINIDL_CHECK(!opt.nesterov() || (opt.momentum() > 0 && opt.dampening() == 0),
               "SGD: nesterov momentum requires a momentum and zero dampening");
}

SgdStepOptions SGD::step_options(std::size_t g) const {
  const Group& grp = groups_[g];
  return SgdStepOptions{grp.lr, opt_.momentum(), opt_.dampening(), grp.weight_decay, opt_.nesterov()};
}

int SGD::num_step_scalars() const { return kSgdStepScalars; }

void SGD::write_group_scalars(std::size_t g, const Tensor& scalars) const {
  write_sgd_scalars_(scalars, step_options(g));
}

void SGD::step() {
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    const Group& grp = groups_[gi];
    const SgdStepOptions o = step_options(gi);
    // PyTorch starts a momentum buffer as a copy of the parameter's first gradient; a
    // parameter seen for the first time later (unfrozen, or without a gradient so far) too.
    std::vector<OptimizerSlot> first, rest;
    for (std::size_t j = 0; j < grp.params.size(); ++j) {
      const Tensor& p = grp.params[j].second;
      Tensor g = p.grad();
      if (!g.defined()) continue;
      bool created = true;
      Tensor buf = o.momentum != 0 ? state(gi, j, "momentum_buffer", &created) : Tensor();
      (created ? first : rest).push_back({p, std::move(g), std::move(buf), Tensor()});
    }
    if (first.empty() && rest.empty()) continue;
    const Tensor scalars = step_scalars_for(gi);
    if (!first.empty()) sgd_step_(first, o, true, scalars);
    if (!rest.empty()) sgd_step_(rest, o, false, scalars);
  }
  ++steps_;
}

AdamW::AdamW(NamedTensors params, const AdamWOptions& opt) : AdamW(one_group(std::move(params)), opt) {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& opt)
    : Optimizer(std::move(groups), opt.lr(), opt.weight_decay(), "AdamW"), opt_(opt) {
  MINIDL_CHECK(opt.lr() >= 0 && opt.eps() >= 0 && opt.beta1() >= 0 && opt.beta1() < 1 && opt.beta2() >= 0 &&
                   opt.beta2() < 1 && opt.weight_decay() >= 0,
               "AdamW: lr (", opt.lr(), "), eps (", opt.eps(), ") and weight_decay (", opt.weight_decay(),
               ") must be non-negative and betas (", opt.beta1(), ", ", opt.beta2(), ") in [0, 1)");
}

AdamWStepOptions AdamW::step_options(std::size_t g) const {
  const Group& grp = groups_[g];
  return AdamWStepOptions{grp.lr, opt_.beta1(), opt_.beta2(), opt_.eps(), grp.weight_decay, steps_ + 1};
}

int AdamW::num_step_scalars() const { return kAdamWStepScalars; }

void AdamW::write_group_scalars(std::size_t g, const Tensor& scalars) const {
  write_adamw_scalars_(scalars, step_options(g));
}

void AdamW::step() {
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    const Group& grp = groups_[gi];
    const AdamWStepOptions o = step_options(gi);
    std::vector<OptimizerSlot> slots;
    for (std::size_t j = 0; j < grp.params.size(); ++j) {
      const Tensor& p = grp.params[j].second;
      Tensor g = p.grad();
      if (!g.defined()) continue;
      slots.push_back({p, std::move(g), state(gi, j, "exp_avg"), state(gi, j, "exp_avg_sq")});
    }
    if (!slots.empty()) adamw_step_(slots, o, step_scalars_for(gi));
  }
  ++steps_;
}

std::vector<double> AdamW::step_scalars() const {
  std::vector<double> v = Optimizer::step_scalars();
  // Bias correction's t, for the groups that take it by value: a graph of one step fits that step.
  if (!v.empty()) v.push_back(double(steps_ + 1));
  return v;
}

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return Tensor::zeros({}, DType::Float64);
  Tensor norm = get_total_norm(grads);
  clip_grads_with_norm_(grads, max_norm, norm);
  return norm;
}

}  // namespace minidl
