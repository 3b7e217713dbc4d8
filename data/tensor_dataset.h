// TensorDataset, as torch.utils.data.TensorDataset: sample i is row i of an input tensor
// [N, ...] (float32 or float64, any shape) with row i of a target tensor: int64 [N] class
// labels, or float [N, ...] targets (regression, soft labels). The DataLoader batches it like
// any other data set: inputs [B, ...] in Batch::images, labels [B] in Batch::labels or targets
// [B, ...] in Batch::targets. The tensors are kept on the CPU (moved there if they are not).
#pragma once

#include <string>
#include <vector>

#include "minidl/data/dataset.h"

namespace minidl::data {

class TensorDataset : public Dataset {
 public:
  // Throws minidl::Error for row counts that differ, a non-float input, a target that is
  // neither int64 [N] nor floating, or a negative label. class_names (int64 targets only)
  // default to "0" .. "K-1" for the largest label K-1; given, every label must be below their
  // count.
  TensorDataset(Tensor inputs, Tensor targets, std::vector<std::string> class_names = {},
                std::string name = "tensor data set");

  std::int64_t size() const override { return inputs_.size(0); }
  Sample get(std::int64_t i) const override;
  // Throws for float targets (there are no classes to balance or stratify by).
  std::int64_t label(std::int64_t i) const override;
  const std::vector<std::string>& class_names() const override { return class_names_; }
  Shape sample_shape() const override;
  // The last two dimensions of a sample (1 where it has fewer): what an image model reads.
  std::int64_t height() const override;
  std::int64_t width() const override;
  std::int64_t channels() const override;
  std::string description() const override;

  bool has_float_targets() const { return is_floating(targets_.dtype()); }
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor inputs_, targets_;
  std::vector<std::string> class_names_;
  std::string name_;
};

}  // namespace minidl::data
