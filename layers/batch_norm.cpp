#include "minidl/layers/batch_norm.h"

#include "minidl/core/distributed.h"
#include "minidl/core/ops.h"

namespace minidl {

BatchNorm2d::BatchNorm2d(std::int64_t c, double eps_, double momentum_, DType dtype) : eps(eps_), momentum(momentum_) {
  MINIDL_CHECK(c > 0, "BatchNorm2d: num_features must be positive, got ", c);
  weight = register_parameter("weight", Tensor::ones({c}, dtype));
  bias = register_parameter("bias", Tensor::zeros({c}, dtype));
  running_mean = register_buffer("running_mean", Tensor::zeros({c}, dtype));
  running_var = register_buffer("running_var", Tensor::ones({c}, dtype));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
}

Tensor BatchNorm2d::forward(const Tensor& x) { return run(x, false); }

Tensor BatchNorm2d::forward_relu(const Tensor& x) { return run(x, true); }

Tensor BatchNorm2d::run(const Tensor& x, bool then_relu) {
  const bool sync = is_training() && sync_group && sync_group->size() > 1;
  Tensor y;
  if (sync) {
    // The synchronised statistics have their own kernels, without a fused ReLU.
    y = sync_batch_norm(x, running_mean, running_var, weight, bias, *sync_group, momentum, eps);
    if (then_relu) y = relu(y);
  } else {
    y = (then_relu ? batch_norm_relu : batch_norm)(x, running_mean, running_var, weight, bias, is_training(), momentum,
                                                   eps);
  }
  // The counter stays on the host (Module::to moves floating tensors only): no device sync.
  if (is_training()) ++*num_batches_tracked.data<std::int64_t>();
  return y;
}

int convert_sync_batch_norm(Module& root, dist::ProcessGroup* group) {
  int converted = 0;
  if (auto* bn = dynamic_cast<BatchNorm2d*>(&root)) {
    bn->sync_group = group;
    ++converted;
  }
  for (auto& [name, child] : root.named_children()) converted += convert_sync_batch_norm(*child, group);
  return converted;
}

}  // namespace minidl
