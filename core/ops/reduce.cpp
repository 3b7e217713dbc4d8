// sum and mean over all elements.
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/elementwise.h"

namespace minidl {

using namespace ops_detail;

namespace {

// d(alpha * sum(x)) / dx = alpha everywhere: a broadcast of the upstream scalar, read where it
// lies (on a GPU, without a trip to the host).
class SumBackward : public Node {
 public:
  SumBackward(double alpha, const char* name) : alpha_(alpha), name_(name) {}
  const char* name() const override { return name_; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    GradSlot& slot = gin[0];
    if (!slot.needed) return;
    dispatch("sum backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      fill_from_scalar(s, slot.grad.numel(), gout.data<T>(), alpha_, slot.grad.data<T>(), slot.accumulate);
    });
  }

 private:
  double alpha_;
  const char* name_;
};

Tensor reduce(const Tensor& x, bool mean, const char* op) {
  check_float(x, op, "input");
  const double alpha = mean ? 1.0 / static_cast<double>(x.numel() ? x.numel() : 1) : 1.0;
  Tensor y = Tensor::empty({}, x.dtype(), x.device());
  dispatch(op, x, [&](auto s, auto tag) {
    using T = decltype(tag);
    sum(s, x.numel(), x.data<T>(), alpha, y.data<T>());
  });
  return record(y, std::make_shared<SumBackward>(alpha, mean ? "MeanBackward" : "SumBackward"), {x});
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce(x, false, "sum"); }
Tensor mean(const Tensor& x) { return reduce(x, true, "mean"); }

}  // namespace minidl
