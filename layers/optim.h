// Optimisers with PyTorch's update rules (torch.optim.SGD, torch.optim.AdamW) over named
// parameters, so their state saves and loads by parameter name for exact resume.
#pragma once

#include <map>
#include <string>

#include "minidl/base/optim_options.h"
#include "minidl/layers/module.h"

namespace minidl {

class Optimizer {
 public:
  explicit Optimizer(NamedTensors params, double lr);
  virtual ~Optimizer() = default;

  // Updates every parameter that has a gradient; parameters without one are left alone.
  virtual void step() = 0;
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  // Number of step() calls so far.
  std::int64_t steps() const { return steps_; }

  // Keys: "<param name>.<state name>" for each buffer, and "step".
  NamedTensors state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  // The state buffer `name` of parameter i, created as zeros on first use.
  Tensor& state(std::size_t i, const char* name);

  NamedTensors params_;
  double lr_;
  std::int64_t steps_ = 0;

 private:
  std::vector<std::map<std::string, Tensor>> state_;
};

class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, const SgdOptions& opt);
  void step() override;

 private:
  SgdOptions opt_;
};

class AdamW : public Optimizer {
 public:
  AdamW(NamedTensors params, const AdamWOptions& opt);
  void step() override;

 private:
  AdamWOptions opt_;
};

// Scales every gradient so that their global L2 norm is at most max_norm (torch.nn.utils.
// clip_grad_norm_). Returns the norm before clipping as a float64 [] tensor on the gradients'
// device: the norm and the scaling stay there, so a training step never waits for the GPU
// (read it with .item() when you want it on the host).
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);

}  // namespace minidl
