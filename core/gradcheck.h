// torch.autograd.gradcheck for minidl: checks an op's backward against central differences in
// float64 on the CPU. For an op f and inputs x, with a random G of f(x)'s shape, the gradient of
// dot(f(x), G) that backward computes must match (dot(f(x + eps e_j), G) - dot(f(x - eps e_j),
// G)) / 2 eps for every element j of every input that requires grad. Two more passes catch the
// backward bugs a value check alone misses:
//  1. fresh gradient buffers are pre-filled with +inf by the engine, so a backward kernel that
//     leaves part of its output unwritten gives a non-finite gradient;
//  2. gradients pre-set to known values P must become P + grad: a backward that overwrites an
//     existing gradient instead of adding to it fails.
// The suite's op table runs every op of core/ops through it (tests/core/op_table.h); a user's
// own op (core/extension.h, docs/extending.md) is checked the same way from the user's tests.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl {

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-7;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
  std::uint64_t seed = 1234;   // of the random G
  bool raise_exception = true;  // as torch: throw minidl::Error on a failure; false: return it
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // what failed: the input, the element, analytic and numeric values
  double worst = 0;     // the largest |analytic - numeric| as a fraction of its tolerance
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// The inputs that require grad are checked and must be float64 CPU tensors; the others (int64
// indices, constants, undefined "none" arguments) are passed to f as they are. f must be a fixed function of them (a dropout inside seeds its own generator).
// The inputs' .grad is left cleared.
GradcheckResult gradcheck(const GradcheckFn& f, std::vector<Tensor> inputs, const GradcheckOptions& opt = {});

}  // namespace minidl
