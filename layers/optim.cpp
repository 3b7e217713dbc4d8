#include "minidl/layers/optim.h"

#include <cmath>

#include "minidl/config.h"
#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/kernels/elementwise.h"
#if MINIDL_WITH_CUDA
#include "minidl/kernels/runtime.h"
#endif

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

SGD::SGD(NamedTensors params, const kernels::SgdOptions& opt) : Optimizer(std::move(params), opt.lr), opt_(opt) {
  MINIDL_CHECK(opt.lr >= 0 && opt.momentum >= 0 && opt.weight_decay >= 0, "SGD: lr, momentum and weight_decay must be non-negative");
  MINIDL_CHECK(!opt.nesterov || (opt.momentum > 0 && opt.dampening == 0),
               "SGD: nesterov momentum requires a momentum and zero dampening");
}

void SGD::step() {
  kernels::SgdOptions o = opt_;
  o.lr = lr_;
  const bool first = steps_ == 0;
  std::vector<kernels::ParamSlice<float>> cuda_slices;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    Tensor* buf = o.momentum != 0 ? &state(i, "momentum_buffer") : nullptr;
    if (p.device().is_cuda()) {
      cuda_slices.push_back({p.data<float>(), g.data<float>(), buf ? buf->data<float>() : nullptr, nullptr, p.numel()});
      continue;
    }
    if (p.dtype() == DType::Float32)
      kernels::cpu::sgd_step<float>({p.data<float>(), g.data<float>(), buf ? buf->data<float>() : nullptr, nullptr,
                                     p.numel()}, o, first);
    else
      kernels::cpu::sgd_step<double>({p.data<double>(), g.data<double>(), buf ? buf->data<double>() : nullptr,
                                      nullptr, p.numel()}, o, first);
  }
#if MINIDL_WITH_CUDA
  if (!cuda_slices.empty()) {
    const int dev = params_[0].second.device().index;
    kernels::cuda::set_device(dev);
    kernels::cuda::sgd_step(cuda_slices.data(), static_cast<int>(cuda_slices.size()), o, first,
                            kernels::cuda::stream(dev));
  }
#endif
  ++steps_;
}

AdamW::AdamW(NamedTensors params, const kernels::AdamWOptions& opt) : Optimizer(std::move(params), opt.lr), opt_(opt) {
  MINIDL_CHECK(opt.lr >= 0 && opt.eps >= 0 && opt.beta1 >= 0 && opt.beta1 < 1 && opt.beta2 >= 0 && opt.beta2 < 1,
               "AdamW: invalid lr, eps or betas");
}

void AdamW::step() {
  kernels::AdamWOptions o = opt_;
  o.lr = lr_;
  o.step = steps_ + 1;
  std::vector<kernels::ParamSlice<float>> cuda_slices;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    Tensor& m = state(i, "exp_avg");
    Tensor& v = state(i, "exp_avg_sq");
    if (p.device().is_cuda()) {
      cuda_slices.push_back({p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), p.numel()});
      continue;
    }
    if (p.dtype() == DType::Float32)
      kernels::cpu::adamw_step<float>({p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), p.numel()}, o);
    else
      kernels::cpu::adamw_step<double>(
          {p.data<double>(), g.data<double>(), m.data<double>(), v.data<double>(), p.numel()}, o);
  }
#if MINIDL_WITH_CUDA
  if (!cuda_slices.empty()) {
    const int dev = params_[0].second.device().index;
    kernels::cuda::set_device(dev);
    kernels::cuda::adamw_step(cuda_slices.data(), static_cast<int>(cuda_slices.size()), o, kernels::cuda::stream(dev));
  }
#endif
  ++steps_;
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  NoGradGuard no_grad;
  double total_sq = 0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.device().is_cuda()) {
#if MINIDL_WITH_CUDA
      Tensor out = Tensor::empty({}, DType::Float32, g.device());
      kernels::cuda::set_device(g.device().index);
      kernels::cuda::sum_squares(g.numel(), g.data<float>(), out.data<float>(), kernels::cuda::stream(g.device().index));
      total_sq += out.item();
#endif
    } else if (g.dtype() == DType::Float32) {
      total_sq += kernels::cpu::sum_squares<float>(g.numel(), g.data<float>());
    } else {
      total_sq += kernels::cpu::sum_squares<double>(g.numel(), g.data<double>());
    }
  }
  const double norm = std::sqrt(total_sq);
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    for (const Tensor& p : params)
      if (p.grad().defined()) p.grad().copy_(mul(p.grad(), coef));
  return norm;
}

}  // namespace minidl
