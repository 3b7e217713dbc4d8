// Optimiser steps and the gradient norm: many tensors per call, so that a GPU runs one launch
// for all the parameters and never waits on the host.
#include "minidl/core/ops/dispatch.h"
#include "minidl/core/optim_step.h"
#include "minidl/kernels/optim.h"

namespace minidl {

using namespace ops_detail;

namespace {

void check_like(const Tensor& t, const Tensor& param, const char* op, const char* arg, std::size_t i) {
  MINIDL_CHECK(t.defined(), op, ": the ", arg, " of parameter ", i, " is undefined");
  MINIDL_CHECK(t.shape() == param.shape() && t.dtype() == param.dtype() && t.device() == param.device(), op,
               ": the ", arg, " of parameter ", i, " is ", t.str(), ", expected the parameter's ", param.str());
}

// Runs f(group) over the slots split by (device, dtype), each group in the given order: one kernel
// call per group, as PyTorch's foreach optimisers group their tensors.
template <typename F>
void for_each_group(const std::vector<OptimizerSlot>& slots, const char* op, bool state1, bool state2, F&& f) {
  std::vector<bool> done(slots.size(), false);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (done[i]) continue;
    const Tensor& first = slots[i].param;
    check_float(first, op, "parameter");
    std::vector<const OptimizerSlot*> group;
    for (std::size_t j = i; j < slots.size(); ++j) {
      const Tensor& p = slots[j].param;
      if (done[j] || p.device() != first.device() || p.dtype() != first.dtype()) continue;
      check_like(slots[j].grad, p, op, "gradient", j);
      if (state1) check_like(slots[j].state1, p, op, "first state buffer", j);
      if (state2) check_like(slots[j].state2, p, op, "second state buffer", j);
      group.push_back(&slots[j]);
      done[j] = true;
    }
    f(first, group);
  }
}

template <typename T>
std::vector<kernels::ParamSlice<T>> param_slices(const std::vector<const OptimizerSlot*>& group) {
  std::vector<kernels::ParamSlice<T>> v;
  v.reserve(group.size());
  for (const OptimizerSlot* s : group)
    v.push_back({s->param.data<T>(), s->grad.data<T>(), ptr<T>(s->state1), ptr<T>(s->state2), s->param.numel()});
  return v;
}

void check_same(const std::vector<Tensor>& tensors, const char* op) {
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    check_float(tensors[i], op, "tensor");
    MINIDL_CHECK(tensors[i].device() == tensors[0].device() && tensors[i].dtype() == tensors[0].dtype(), op,
                 ": tensor ", i, " is ", tensors[i].str(), ", expected the device and dtype of tensor 0, ",
                 tensors[0].str());
  }
}

void check_scalars(const Tensor& scalars, int n, const char* op) {
  if (!scalars.defined()) return;
  MINIDL_CHECK(scalars.dtype() == DType::Float64 && scalars.numel() == n, op,
               ": the step's scalars must be a float64 tensor of ", n, " elements, got ", scalars.str());
}

// Where the parameters on param's device read their step's numbers: scalars when it is there.
const double* scalars_on(const Tensor& scalars, const Tensor& param) {
  return scalars.defined() && scalars.device() == param.device() ? scalars.data<double>() : nullptr;
}

static_assert(kSgdStepScalars == kernels::kSgdScalars && kAdamWStepScalars == kernels::kAdamWScalars,
              "core/optim_step.h's sizes are the kernels'");

}  // namespace

void sgd_step_(const std::vector<OptimizerSlot>& slots, const SgdStepOptions& opt, bool first_step,
               const Tensor& scalars) {
  check_scalars(scalars, kSgdStepScalars, "sgd_step_");
  for_each_group(slots, "sgd_step_", opt.momentum != 0.0, false, [&](const Tensor& p, const auto& group) {
    dispatch("sgd_step_", p, [&](auto s, auto tag) {
      const auto v = param_slices<decltype(tag)>(group);
      sgd_step(s, v.data(), static_cast<int>(v.size()), opt, first_step, scalars_on(scalars, p));
    });
  });
}

void adamw_step_(const std::vector<OptimizerSlot>& slots, const AdamWStepOptions& opt, const Tensor& scalars) {
  check_scalars(scalars, kAdamWStepScalars, "adamw_step_");
  for_each_group(slots, "adamw_step_", true, true, [&](const Tensor& p, const auto& group) {
    dispatch("adamw_step_", p, [&](auto s, auto tag) {
      const auto v = param_slices<decltype(tag)>(group);
      adamw_step(s, v.data(), static_cast<int>(v.size()), opt, scalars_on(scalars, p));
    });
  });
}

void sgd_step_(const std::vector<OptimizerSlot>& slots, const SgdStepOptions& opt, bool first_step) {
  sgd_step_(slots, opt, first_step, Tensor());
}

void adamw_step_(const std::vector<OptimizerSlot>& slots, const AdamWStepOptions& opt) {
  adamw_step_(slots, opt, Tensor());
}

void write_sgd_scalars_(const Tensor& scalars, const SgdStepOptions& opt) {
  MINIDL_CHECK(scalars.defined(), "write_sgd_scalars_: scalars is undefined");
  check_scalars(scalars, kSgdStepScalars, "write_sgd_scalars_");
  dispatch<Types<double>, Types<double>>("write_sgd_scalars_", scalars, [&](auto s, auto) {
    sgd_write_scalars(s, opt, scalars.data<double>());
  });
}

void write_adamw_scalars_(const Tensor& scalars, const AdamWStepOptions& opt) {
  MINIDL_CHECK(scalars.defined(), "write_adamw_scalars_: scalars is undefined");
  check_scalars(scalars, kAdamWStepScalars, "write_adamw_scalars_");
  dispatch<Types<double>, Types<double>>("write_adamw_scalars_", scalars, [&](auto s, auto) {
    adamw_write_scalars(s, opt, scalars.data<double>());
  });
}

Tensor get_total_norm(const std::vector<Tensor>& tensors) {
  MINIDL_CHECK(!tensors.empty(), "get_total_norm: no tensors");
  check_same(tensors, "get_total_norm");
  Tensor norm = Tensor::empty({}, DType::Float64, tensors[0].device());
  dispatch("get_total_norm", tensors[0], [&](auto s, auto tag) {
    using T = decltype(tag);
    std::vector<kernels::Span<const T>> v;
    v.reserve(tensors.size());
    for (const Tensor& t : tensors) v.push_back({t.data<T>(), t.numel()});
    total_norm(s, v.data(), static_cast<int>(v.size()), norm.data<double>());
  });
  return norm;
}

void clip_grads_with_norm_(const std::vector<Tensor>& tensors, double max_norm, const Tensor& total_norm) {
  if (tensors.empty()) return;
  check_same(tensors, "clip_grads_with_norm_");
  MINIDL_CHECK(total_norm.defined() && total_norm.numel() == 1 && total_norm.dtype() == DType::Float64 &&
                   total_norm.device() == tensors[0].device(),
               "clip_grads_with_norm_: expected the norm as a one-element float64 tensor on ",
               tensors[0].device().str(), " (from get_total_norm), got ", total_norm.str());
  dispatch("clip_grads_with_norm_", tensors[0], [&](auto s, auto tag) {
    using T = decltype(tag);
    std::vector<kernels::Span<T>> v;
    v.reserve(tensors.size());
    for (const Tensor& t : tensors) v.push_back({t.data<T>(), t.numel()});
    clip_by_norm(s, v.data(), static_cast<int>(v.size()), total_norm.data<double>(), max_norm);
  });
}

}  // namespace minidl
