// The hyper-parameters of the optimisers, as torch.optim names them. They live below kernels
// because the optimiser kernels take them as they are, and above kernels the optimisers
// (layers/optim.h) and the apps fill them in.
#pragma once

#include <cstdint>

namespace minidl {

struct SgdOptions {
  double lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};

// step is the 1-based step count after this update (bias correction uses it).
struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  std::int64_t step = 1;
};

}  // namespace minidl
