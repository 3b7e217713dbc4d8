// The precision policy, PyTorch's autocast for minidl: a scoped, per-thread switch that makes
// the matrix-multiply ops (conv2d, linear) compute in bf16 with FP32 accumulation.
//
//   {
//     minidl::AutocastGuard bf16(minidl::Precision::BFloat16);
//     Tensor logits = model.forward(x);
//     Tensor loss = cross_entropy(logits, y);
//   }
//   loss.backward();  // conv2d/linear backward use the precision their forward ran in
//
// What bf16 means here (docs/precision.md has the reasons):
// - conv2d and linear round their float32 operands to bf16 (round to nearest even) and
//   multiply-accumulate in FP32; their backward rounds the upstream gradient the same way and
//   pairs it with the rounded saved operands. Outputs and gradients stay float32 tensors.
// - Everything else (batch norm and its statistics, ReLU, pooling, softmax / cross-entropy, the
//   loss, the optimiser) runs in FP32 exactly as without the guard; parameters (the master
//   weights) and checkpoints stay FP32.
// - float64 tensors are never touched (gradient checks stay exact), as in PyTorch.
#pragma once

#include <string>

namespace minidl {

enum class Precision { Float32, BFloat16 };

// "fp32" / "bf16", the names the apps' --precision flag takes.
const char* precision_name(Precision p);
// Parses "fp32" or "bf16"; throws minidl::Error naming `what` (a flag, a config key) otherwise.
Precision parse_precision(const std::string& name, const char* what = "precision");

// The precision the matrix-multiply ops of this thread compute in now.
Precision autocast_precision();

// Sets the precision for a scope and restores the previous one on exit (nestable).
class AutocastGuard {
 public:
  explicit AutocastGuard(Precision p);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  Precision prev_;
};

// Whether this CPU has bf16 arithmetic (AVX-512 BF16 or AMX-BF16), read from CPUID. Without it
// the CPU's bf16 is the same rounding with FP32 instructions: bf16's numerics, not its speed.
bool cpu_has_bf16();
// One line for the user saying how bf16 is computed on the CPU of this machine.
std::string cpu_bf16_note();

}  // namespace minidl
