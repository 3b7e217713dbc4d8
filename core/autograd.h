// Define-by-run autograd. An op on tensors that require grad records a Node holding what its
// backward needs; Tensor::backward() walks the graph in reverse topological order.
//
// Gradient buffers follow the kernels' accumulate contract: for each input the engine hands the
// node a GradSlot whose buffer either is fresh (accumulate = false: overwrite it, never read it)
// or already holds earlier contributions (accumulate = true: add into it). A leaf's first
// gradient is thus written straight into .grad with no zero-fill and no extra add.
#pragma once

#include <memory>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl {

struct GradSlot {
  bool needed = false;      // the input requires grad
  bool accumulate = false;  // the buffer holds earlier gradients: add into it
  Tensor grad;              // shape, dtype and device of the input; defined when needed
};

class Node {
 public:
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // Writes (or adds, per slot) d loss / d inputs[i] into gin[i].grad for each needed slot.
  virtual void backward(const Tensor& grad_output, std::vector<GradSlot>& gin) = 0;

  // The inputs whose gradients this node produces, in the op's argument order. Undefined or
  // non-differentiable inputs are stored as undefined tensors so indices stay stable.
  std::vector<Tensor> inputs;
};

// Whether ops record history on this thread (PyTorch's torch.is_grad_enabled()).
bool grad_enabled();
void set_grad_enabled(bool enabled);

// Disables history recording in a scope, for evaluation.
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Debugging aid (and the gradient checks' tool): when set, every fresh gradient buffer the
// engine hands to a backward kernel is first filled with this value (say +inf), so a kernel
// that fails to write part of its output shows up as non-finite gradients. NaN disables it.
void set_fresh_grad_fill(double value);

// True if an op on these inputs must record a node.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);

// Makes `out` the output of node `fn` built from `inputs` (which it stores), if any input
// requires grad and grad mode is on. Returns out.
Tensor record(Tensor out, std::shared_ptr<Node> fn, std::vector<Tensor> inputs);

// Runs backward from root with the given output gradient (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& grad_output);

}  // namespace minidl
