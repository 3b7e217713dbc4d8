// Modules around the one-input ops, with torch.nn's names: ReLU, Sigmoid, Tanh, GELU, SiLU, Identity,
// and Dropout (which follows the module's train() / eval() mode, as torch.nn.Dropout does).
#pragma once

#include "minidl/core/ops.h"
#include "minidl/layers/module.h"

namespace minidl {

// A module without parameters whose forward is one op of core/ops.h (ReLU, Sigmoid, Tanh, GELU,
// SiLU), named as in torch.nn.
class OpModule : public Module {
 public:
  OpModule(const char* name, Tensor (*op)(const Tensor&)) : name_(name), op_(op) {}
  Tensor forward(const Tensor& x) override { return op_(x); }
  std::string type_name() const override { return name_; }

 private:
  const char* name_;
  Tensor (*op_)(const Tensor&);
};

struct ReLU : OpModule {
  ReLU() : OpModule("ReLU", relu) {}
};
struct Sigmoid : OpModule {
  Sigmoid() : OpModule("Sigmoid", sigmoid) {}
};
struct Tanh : OpModule {
  Tanh() : OpModule("Tanh", tanh) {}
};
// The exact (erf) GELU, torch's default approximate='none'.
struct GELU : OpModule {
  GELU() : OpModule("GELU", gelu) {}
};
struct SiLU : OpModule {
  SiLU() : OpModule("SiLU", silu) {}
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
