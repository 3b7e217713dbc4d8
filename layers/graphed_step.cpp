#include "minidl/layers/graphed_step.h"

#include <utility>

#include "minidl/base/error.h"
#include "minidl/layers/batch_norm.h"

namespace minidl {

GraphedStep::GraphedStep(Module& model, Optimizer& optimizer, std::vector<Tensor> static_inputs, Step step,
                         int warmup_steps)
    : model_(model),
      optimizer_(optimizer),
      inputs_(std::move(static_inputs)),
      step_(std::move(step)),
      warmup_(warmup_steps) {
  MINIDL_CHECK(!inputs_.empty(), "GraphedStep: no static inputs");
  MINIDL_CHECK(warmup_ >= 1, "GraphedStep: warmup_steps is ", warmup_,
               "; at least one eager step must come before the capture (the optimiser's state is made, and its "
               "first-step path taken, there)");
  const Device device = inputs_[0].device();
  for (std::size_t i = 0; i < inputs_.size(); ++i) {
    MINIDL_CHECK(inputs_[i].defined(), "GraphedStep: static input ", i, " is undefined");
    MINIDL_CHECK(inputs_[i].device().is_cuda() && inputs_[i].device() == device, "GraphedStep: static input ", i,
                 " is on ", inputs_[i].device().str(), "; CUDA graphs need every input on one GPU (", device.str(),
                 " for input 0)");
  }
}

Tensor GraphedStep::operator()(const std::vector<Tensor>& batch) {
  MINIDL_CHECK(batch.size() == inputs_.size(), "GraphedStep: ", batch.size(), " batch tensors for ", inputs_.size(),
               " static inputs");
  for (std::size_t i = 0; i < batch.size(); ++i) {
    MINIDL_CHECK(batch[i].shape() == inputs_[i].shape() && batch[i].dtype() == inputs_[i].dtype(),
                 "GraphedStep: batch tensor ", i, " is ", dtype_name(batch[i].dtype()), shape_str(batch[i].shape()),
                 ", the captured step's static shape is ", dtype_name(inputs_[i].dtype()),
                 shape_str(inputs_[i].shape()), " (run a batch of another shape, such as the last partial one, "
                 "eagerly)");
    if (!batch[i].is_same(inputs_[i])) inputs_[i].copy_(batch[i]);
  }
  if (eager_ < warmup_) {
    ++eager_;
    return step_(inputs_);
  }
  // This step's learning rates and AdamW's step factors, in the device memory the captured
  // kernels read: queued before the replay, and outside the capture, which would freeze them.
  optimizer_.write_step_scalars();
  if (!graph_.captured() || optimizer_.step_scalars() != captured_scalars_) {
    capture();
  } else {
    // The capture ran the step's host code once, for the replay that follows it; later replays
    // run none, so what it counts on the host is counted here.
    optimizer_.count_replayed_step();
    count_tracked_batch(model_);
  }
  graph_.replay();
  ++replays_;
  return loss_;
}

void GraphedStep::capture() {
  // The old graph first: its pool's blocks (the loss, the old gradients once freed) go back to
  // the shared cache, from which the new capture may take them.
  loss_ = Tensor();
  graph_.reset();
  captured_scalars_ = optimizer_.step_scalars();
  graph_.capture_begin(inputs_[0].device());
  try {
    loss_ = step_(inputs_);
  } catch (...) {
    graph_.capture_abort();
    loss_ = Tensor();
    throw;
  }
  try {
    graph_.capture_end();
  } catch (...) {
    loss_ = Tensor();
    throw;
  }
  ++captures_;
}

}  // namespace minidl
