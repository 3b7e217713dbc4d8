// BatchNorm2d, as torch.nn.BatchNorm2d: affine weight and bias, running statistics updated
// in training mode with `momentum`, and num_batches_tracked counted.
#pragma once

#include "minidl/layers/module.h"

namespace minidl {

namespace dist {
class ProcessGroup;
}

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       DType dtype = DType::Float32);
  Tensor forward(const Tensor& x) override;
  // relu(forward(x)), fused into the batch norm kernels (batch_norm_relu) where it can be: the
  // ReLU that follows batch norm in ResNet. The same numbers as forward then ReLU.
  Tensor forward_relu(const Tensor& x);
  std::string type_name() const override { return "BatchNorm2d"; }

  Tensor weight, bias;                          // [c], 1 and 0 at start
  Tensor running_mean, running_var;             // [c], 0 and 1 at start
  Tensor num_batches_tracked;                   // int64 scalar
  double eps, momentum;
  // SyncBatchNorm: in training, the statistics of the batch over every rank of this group
  // (sync_batch_norm); null, or a group of one process, is plain batch norm (as PyTorch's
  // SyncBatchNorm outside a distributed job). Evaluation always uses the running statistics.
  dist::ProcessGroup* sync_group = nullptr;

 private:
  Tensor run(const Tensor& x, bool then_relu);
};

// Makes every BatchNorm2d under `root` synchronise its batch statistics over `group` (null: stop),
// PyTorch's SyncBatchNorm.convert_sync_batchnorm. Parameter and buffer names do not change, so
// checkpoints load either way. Returns how many layers it converted.
int convert_sync_batch_norm(Module& root, dist::ProcessGroup* group);

}  // namespace minidl
