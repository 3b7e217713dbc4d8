// Optimisers with PyTorch's update rules (torch.optim.SGD, torch.optim.AdamW) over named
// parameters, so their state saves and loads by parameter name for exact resume.
//
// Options are set by name, as in libtorch, so no value lands in the wrong field:
//   SGD opt(model->named_parameters(), SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
// Parameter groups have their own learning rate and weight decay (fine-tuning a backbone
// slower than a new head):
//   SGD opt({{backbone_params}, {head_params, /*lr=*/0.01}}, SGDOptions(0.001).momentum(0.9));
// Parameters that do not require grad (frozen) may be passed: they get no gradient, so no
// step changes them (PyTorch's behaviour).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "minidl/base/optim_options.h"
#include "minidl/layers/module.h"

namespace minidl {

// A chainable option: `name(value)` sets it and returns the options, `name()` reads it.
#define MINIDL_OPTION(Self, T, name, init)  \
 public:                                    \
  Self& name(T v) {                         \
    name##_ = v;                            \
    return *this;                           \
  }                                         \
  T name() const { return name##_; }        \
                                            \
 private:                                   \
  T name##_ = init;

class SGDOptions {
 public:
  explicit SGDOptions(double lr) : lr_(lr) {}
  MINIDL_OPTION(SGDOptions, double, lr, 0.0)
  MINIDL_OPTION(SGDOptions, double, momentum, 0.0)
  MINIDL_OPTION(SGDOptions, double, dampening, 0.0)
  MINIDL_OPTION(SGDOptions, double, weight_decay, 0.0)
  MINIDL_OPTION(SGDOptions, bool, nesterov, false)
};

class AdamWOptions {
 public:
  explicit AdamWOptions(double lr = 1e-3) : lr_(lr) {}
  MINIDL_OPTION(AdamWOptions, double, lr, 1e-3)
  MINIDL_OPTION(AdamWOptions, double, beta1, 0.9)
  MINIDL_OPTION(AdamWOptions, double, beta2, 0.999)
  MINIDL_OPTION(AdamWOptions, double, eps, 1e-8)
  MINIDL_OPTION(AdamWOptions, double, weight_decay, 1e-2)

 public:
  AdamWOptions& betas(double b1, double b2) { return beta1(b1).beta2(b2); }
};

#undef MINIDL_OPTION

// Some parameters with their own learning rate and weight decay; unset: the optimiser's.
struct ParamGroup {
  ParamGroup(NamedTensors p, std::optional<double> lr_ = std::nullopt, std::optional<double> weight_decay_ = std::nullopt)
      : params(std::move(p)), lr(lr_), weight_decay(weight_decay_) {}
  NamedTensors params;
  std::optional<double> lr;
  std::optional<double> weight_decay;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Updates every parameter that has a gradient; parameters without one are left alone.
  virtual void step() = 0;
  void zero_grad();

  std::size_t num_param_groups() const { return groups_.size(); }
  const NamedTensors& params(std::size_t group) const;
  double lr(std::size_t group = 0) const;
  double weight_decay(std::size_t group = 0) const;
  // Every group's learning rate (what a schedule drives), or one group's.
  void set_lr(double lr);
  void set_lr(std::size_t group, double lr);
  // Number of step() calls so far (and of replayed steps, count_replayed_step).
  std::int64_t steps() const { return steps_; }

  // Writes what changes from step to step (each group's learning rate and weight decay; AdamW's
  // bias corrections for step steps() + 1) into device memory from which the kernels of a group
  // whose parameters are all on one GPU read it (made on first use), queued on that GPU's stream,
  // without the host waiting or anything being allocated after the first step. step() calls it
  // itself, except while a CUDA graph captures the step (the capture would freeze the write):
  // layers/graphed_step.h calls it before each capture and each replay, so that a replayed step
  // follows a per-step learning-rate schedule and AdamW's step count.
  void write_step_scalars();
  // The numbers step() still hands its kernels by value, which a CUDA graph of a step freezes:
  // those of groups not all on one GPU (their learning rate and weight decay; AdamW adds its
  // step count). Empty when every group is on one GPU. layers/graphed_step.h captures again
  // whenever they differ from the captured ones.
  virtual std::vector<double> step_scalars() const;
  // Counts a step that ran without step() being called: the replay of a captured step().
  void count_replayed_step() { ++steps_; }

  // Keys: "<param name>.<state name>" for each buffer, and "step".
  NamedTensors state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& state);
  void load_state_dict(const NamedTensors& state);

 protected:
  Optimizer(std::vector<ParamGroup> groups, double lr, double weight_decay, const char* name);

  struct Group {
    NamedTensors params;
    double lr, weight_decay;
    Tensor scalars;  // the per-step numbers on the group's GPU (write_step_scalars)
  };
  // The device all of group g's parameters are on when that is a GPU, else nullopt (the numbers
  // then go to the kernels by value).
  std::optional<Device> group_gpu(std::size_t g) const;
  // What step() passes its kernels as group g's scalars: before the kernels are queued, writes
  // the group's numbers (unless the group's GPU is capturing) and returns the tensor they are in;
  // undefined for a group not on one GPU.
  Tensor step_scalars_for(std::size_t g);
  // How many per-step numbers a group has, and writes them for group g into `scalars`.
  virtual int num_step_scalars() const = 0;
  virtual void write_group_scalars(std::size_t g, const Tensor& scalars) const = 0;
  // The state buffer `name` of parameter j of group g, created as zeros on first use; `created`
  // says whether this call made it (SGD's momentum starts from the first gradient).
  Tensor& state(std::size_t g, std::size_t j, const char* name, bool* created = nullptr);

  std::vector<Group> groups_;
  std::int64_t steps_ = 0;

 private:
  std::vector<std::vector<std::map<std::string, Tensor>>> state_;  // [group][param][state name]
};

class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, const SGDOptions& opt);
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults);
  void step() override;
  const SGDOptions& options() const { return opt_; }

 protected:
  int num_step_scalars() const override;
  void write_group_scalars(std::size_t g, const Tensor& scalars) const override;

 private:
  SgdStepOptions step_options(std::size_t g) const;
  SGDOptions opt_;
};

class AdamW : public Optimizer {
 public:
  AdamW(NamedTensors params, const AdamWOptions& opt);
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults);
  void step() override;
  std::vector<double> step_scalars() const override;
  const AdamWOptions& options() const { return opt_; }

 protected:
  int num_step_scalars() const override;
  void write_group_scalars(std::size_t g, const Tensor& scalars) const override;

 private:
  AdamWStepOptions step_options(std::size_t g) const;
  AdamWOptions opt_;
};

// Scales every gradient so that their global L2 norm is at most max_norm (torch.nn.utils.
// clip_grad_norm_). Returns the norm before clipping as a float64 [] tensor on the gradients'
// device: the norm and the scaling stay there, so a training step never waits for the GPU
// (read it with .item() when you want it on the host).
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);

}  // namespace minidl
