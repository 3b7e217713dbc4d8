// Modules around the one-input ops, with torch.nn's names: Sigmoid, Tanh, GELU, SiLU, Identity,
// and Dropout (which follows the module's train() / eval() mode, as torch.nn.Dropout does).
#pragma once

#include "minidl/core/ops.h"
#include "minidl/layers/module.h"

namespace minidl {

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
  std::string type_name() const override { return "Sigmoid"; }
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) override { return tanh(x); }
  std::string type_name() const override { return "Tanh"; }
};

// The exact (erf) GELU, torch's default approximate='none'.
class GELU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return gelu(x); }
  std::string type_name() const override { return "GELU"; }
};

class SiLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return silu(x); }
  std::string type_name() const override { return "SiLU"; }
};

// Returns its input: the placeholder for a removed layer (model->fc = Identity() for features).
class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

// In training mode zeroes each element with probability p and scales the rest by 1/(1-p); in
// eval mode returns its input. Masks are drawn from default_generator() (manual_seed).
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5) : p_(p) {
    MINIDL_CHECK(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got ", p);
  }
  Tensor forward(const Tensor& x) override { return dropout(x, p_, is_training()); }
  std::string type_name() const override { return "Dropout"; }
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace minidl
