#include "minidl/layers/optim.h"

#include <cmath>

#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"

namespace minidl {

Optimizer::Optimizer(NamedTensors params, double lr) : params_(std::move(params)), lr_(lr), state_(params_.size()) {
  for (auto& [name, p] : params_)
    MINIDL_CHECK(p.requires_grad(), "optimizer: parameter '", name, "' does not require grad");
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) p.set_grad(Tensor());
}

Tensor& Optimizer::state(std::size_t i, const char* name) {
  Tensor& t = state_[i][name];
  const Tensor& p = params_[i].second;
  if (!t.defined() || t.device() != p.device()) t = Tensor::zeros(p.shape(), p.dtype(), p.device());
  return t;
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  for (std::size_t i = 0; i < params_.size(); ++i)
    for (const auto& [k, t] : state_[i]) out.emplace_back(params_[i].first + "." + k, t);
  Tensor step = Tensor::zeros({}, DType::Int64);
  *step.data<std::int64_t>() = steps_;
  out.emplace_back("step", step);
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& saved) {
  auto it = saved.find("step");
  MINIDL_CHECK(it != saved.end(), "optimizer load_state_dict: no 'step' entry");
  steps_ = static_cast<std::int64_t>(it->second.item());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    state_[i].clear();
    const std::string prefix = params_[i].first + ".";
    for (const auto& [k, t] : saved) {
      if (k.compare(0, prefix.size(), prefix) != 0 || k.find('.', prefix.size()) != std::string::npos) continue;
      const Tensor& p = params_[i].second;
      MINIDL_CHECK(t.shape() == p.shape(), "optimizer load_state_dict: '", k, "' has shape ", shape_str(t.shape()),
                   ", parameter has ", shape_str(p.shape()));
      Tensor& dst = state(i, k.substr(prefix.size()).c_str());
      dst.copy_(t.dtype() == p.dtype() ? t : t.to(p.dtype()));
    }
  }
}

SGD::SGD(NamedTensors params, const SgdOptions& opt) : Optimizer(std::move(params), opt.lr), opt_(opt) {
  MINIDL_CHECK(opt.lr >= 0 && opt.momentum >= 0 && opt.weight_decay >= 0, "SGD: lr, momentum and weight_decay must be non-negative");
  MINIDL_CHECK(!opt.nesterov || (opt.momentum > 0 && opt.dampening == 0),
               "SGD: nesterov momentum requires a momentum and zero dampening");
}

void SGD::step() {
  SgdOptions o = opt_;
  o.lr = lr_;
  std::vector<OptimizerSlot> slots;
  slots.reserve(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    slots.push_back({p, std::move(g), o.momentum != 0 ? state(i, "momentum_buffer") : Tensor(), Tensor()});
  }
  sgd_step_(slots, o, steps_ == 0);
  ++steps_;
}

AdamW::AdamW(NamedTensors params, const AdamWOptions& opt) : Optimizer(std::move(params), opt.lr), opt_(opt) {
  MINIDL_CHECK(opt.lr >= 0 && opt.eps >= 0 && opt.beta1 >= 0 && opt.beta1 < 1 && opt.beta2 >= 0 && opt.beta2 < 1,
               "AdamW: invalid lr, eps or betas");
}

void AdamW::step() {
  AdamWOptions o = opt_;
  o.lr = lr_;
  o.step = steps_ + 1;
  std::vector<OptimizerSlot> slots;
  slots.reserve(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    slots.push_back({p, std::move(g), state(i, "exp_avg"), state(i, "exp_avg_sq")});
  }
  adamw_step_(slots, o);
  ++steps_;
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
