// swish as an op: the checks, the one dispatch that picks the kernels by device and dtype, and
// the autograd node that calls the backward kernels: what every op in minidl's core/ops does,
// through the public minidl/core/extension.h.
#include "swish.h"

#include <memory>

#include <minidl/core/extension.h>

#include "swish_kernels.h"

namespace custom_op {

using minidl::GradSlot;
using minidl::Node;
using minidl::Tensor;
using minidl::extension::dispatch;

namespace {

class SwishBackward : public Node {
 public:
  explicit SwishBackward(double beta) : beta_(beta) {}
  const char* name() const override { return "SwishBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    if (!gin[0].needed) return;
    const Tensor& x = inputs[0];  // stored by record()
    dispatch("swish backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      swish_backward(s, gout.numel(), static_cast<T>(beta_), gout.data<T>(), x.data<T>(), gin[0].grad.data<T>(),
                     gin[0].accumulate);
    });
  }

 private:
  double beta_;
};

}  // namespace

Tensor swish(const Tensor& x, double beta) {
  minidl::extension::check_float(x, "swish", "input");
  Tensor y = Tensor::empty_like(x);
  dispatch("swish", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    swish_forward(s, x.numel(), static_cast<T>(beta), x.data<T>(), y.data<T>());
  });
  // The node is attached only when x requires grad and grad mode is on.
  return minidl::record(y, std::make_shared<SwishBackward>(beta), {x});
}

}  // namespace custom_op
