// The hyper-parameters of one optimiser step as the kernels take them (a plain struct, one
// parameter group's values). They live below kernels because the optimiser kernels read them as
// they are; core/ops passes them through, and the optimisers of layers/optim.h fill them in
// from their torch-style SGDOptions/AdamWOptions, which are what users write.
#pragma once

#include <cstdint>

namespace minidl {

struct SgdStepOptions {
  double lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};

// step is the 1-based step count after this update (bias correction uses it).
struct AdamWStepOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  std::int64_t step = 1;
};

}  // namespace minidl
