// CrossEntropyLoss, as torch.nn.CrossEntropyLoss (mean reduction, optional class weights and
// label smoothing).
#pragma once

#include "minidl/core/ops.h"

namespace minidl {

class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(CrossEntropyOptions opt = {}) : opt_(std::move(opt)) {}
  Tensor operator()(const Tensor& logits, const Tensor& target) const {
    if (opt_.weight.defined() && opt_.weight.device() != logits.device()) opt_.weight = opt_.weight.to(logits.device());
    return cross_entropy(logits, target, opt_);
  }
  const CrossEntropyOptions& options() const { return opt_; }

 private:
  mutable CrossEntropyOptions opt_;  // the weight moves to the logits' device on first use
};

}  // namespace minidl
