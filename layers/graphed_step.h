// A whole training step captured as one CUDA graph and replayed for each batch: PyTorch's
// whole-network capture (torch.cuda.graph with static inputs, as its CUDA Graphs notes show it),
// for steps of one static shape on one GPU.
//
//   auto step = [&](const std::vector<Tensor>& in) {   // forward, loss, backward, clip, step
//     opt.zero_grad();
//     Tensor loss = loss_fn(model->forward(in[0]), in[1]);
//     loss.backward();
//     opt.step();
//     return loss;
//   };
//   GraphedStep graphed(*model, opt, {x0, y0}, step);  // x0, y0: GPU tensors of the batch shape
//   for (auto& [x, y] : batches) Tensor loss = graphed({x, y});
//
// Each call copies the batch into the static input tensors and then runs the step: eagerly for
// the first `warmup_steps` calls (so that the optimiser's state exists, the first-step paths are
// not what is captured, and the caching allocator and the device's workspace have grown to what
// a step needs), captured on the next call and replayed from then on. The capture runs nothing,
// so the call that captures also replays once. The step must not read device values on the host
// (no item() inside it): the capture fails, naming the call.
//
// What the capture would freeze is handled: the optimiser's per-step numbers (each group's
// learning rate and weight decay, AdamW's bias corrections) are read by its kernels from device
// memory, which Optimizer::write_step_scalars fills before each capture and each replay, so a
// replay follows a per-step learning-rate schedule and AdamW's step count with one capture.
// What the optimiser still passes by value (Optimizer::step_scalars: only for a parameter group
// not all on one GPU) is compared before each replay, and the step is captured again when it
// changed. Every other scalar the step passes to kernels (clipping's max_norm, batch norm's
// momentum, loss weights) must stay what it was at the capture.
// What the step does on the host, a replay does not: it counts the replayed step in the
// optimiser's step count and in the model's batch-norm num_batches_tracked, and nothing else.
// Tensors allocated in the capture (activations, gradients, the loss) live in the graph's private
// pool (core/cuda_graph.h): the loss returned is the same tensor on every replay, overwritten by
// the next call, so read or clone it before then.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "minidl/core/cuda_graph.h"
#include "minidl/core/tensor.h"
#include "minidl/layers/module.h"
#include "minidl/layers/optim.h"

namespace minidl {

class GraphedStep {
 public:
  using Step = std::function<Tensor(const std::vector<Tensor>& inputs)>;

  // model and optimizer: what the step trains (and calls step() on). static_inputs: GPU tensors
  // with the batch's shapes and dtypes, which the step reads. warmup_steps >= 1.
  GraphedStep(Module& model, Optimizer& optimizer, std::vector<Tensor> static_inputs, Step step, int warmup_steps = 3);

  // Copies batch[i] into static input i (same shape and dtype; any device) and runs one step.
  // Returns the loss the step returned (see above: overwritten by the next call).
  Tensor operator()(const std::vector<Tensor>& batch);

  const std::vector<Tensor>& static_inputs() const { return inputs_; }
  std::int64_t eager_steps() const { return eager_; }
  std::int64_t captures() const { return captures_; }
  std::int64_t replays() const { return replays_; }

 private:
  void capture();

  Module& model_;
  Optimizer& optimizer_;
  std::vector<Tensor> inputs_;
  Step step_;
  int warmup_;
  CUDAGraph graph_;
  std::vector<double> captured_scalars_;
  Tensor loss_;  // the captured step's output, rewritten by each replay
  std::int64_t eager_ = 0, captures_ = 0, replays_ = 0;
};

}  // namespace minidl
