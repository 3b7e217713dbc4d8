// linear: x weight^T + bias, PyTorch's layout.
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/linear.h"

namespace minidl {

using namespace ops_detail;

namespace {

class LinearBackward : public Node {
 public:
  explicit LinearBackward(const kernels::LinearGeometry& g) : g_(g) {}
  const char* name() const override { return "LinearBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    const Tensor& x = inputs[0];
    const Tensor& w = inputs[1];
    dispatch("linear backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      if (gin[0].needed)
        linear_backward_input(s, g_, gout.data<T>(), w.data<T>(), gin[0].grad.data<T>(), gin[0].accumulate);
      if (gin[1].needed)
        linear_backward_weight(s, g_, x.data<T>(), gout.data<T>(), gin[1].grad.data<T>(), gin[1].accumulate);
      if (gin[2].needed) linear_backward_bias(s, g_, gout.data<T>(), gin[2].grad.data<T>(), gin[2].accumulate);
    });
  }

 private:
  kernels::LinearGeometry g_;
};

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_float(x, "linear", "input");
  check_float(weight, "linear", "weight");
  MINIDL_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1),
               "linear: expected input [batch, in] and weight [out, in] with the same in, got input ",
               shape_str(x.shape()), " and weight ", shape_str(weight.shape()));
  if (bias.defined())
    MINIDL_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: bias ", shape_str(bias.shape()),
                 " does not match weight ", shape_str(weight.shape()), ": expected [", weight.size(0), "]");
  check_same_device("linear", {&x, &weight, &bias});
  check_same_dtype("linear", {&x, &weight, &bias});
  const kernels::LinearGeometry g{x.size(0), x.size(1), weight.size(0)};
  Tensor y = Tensor::empty({g.batch, g.out}, x.dtype(), x.device());
  dispatch("linear", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    linear_forward(s, g, x.data<T>(), weight.data<T>(), ptr<T>(bias), y.data<T>());
  });
  return record(y, std::make_shared<LinearBackward>(g), {x, weight, bias});
}

}  // namespace minidl
