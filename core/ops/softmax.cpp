// softmax and log_softmax over any dimension (kernels/reduce_dim.h); log_softmax over dim 1 of a
// 2-d input keeps the classifier's row kernel (loss.cpp).
#include "minidl/core/ops/dispatch.h"
#include "minidl/core/ops/layout.h"
#include "minidl/kernels/reduce_dim.h"

namespace minidl {

using namespace ops_detail;

namespace {

kernels::DimGeometry around_dim(const Shape& s, std::int64_t d) {
  kernels::DimGeometry g{1, s.empty() ? 1 : s[d], 1};
  for (std::int64_t i = 0; i < d; ++i) g.outer *= s[i];
  for (std::size_t i = d + 1; i < s.size(); ++i) g.inner *= s[i];
  return g;
}

class SoftmaxBackward : public Node {
 public:
  SoftmaxBackward(kernels::DimGeometry g, bool log, Tensor y) : g_(g), log_(log), y_(std::move(y)) {}
  const char* name() const override { return log_ ? "LogSoftmaxBackward" : "SoftmaxBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    GradSlot& slot = gin[0];
    if (!slot.needed) return;
    dispatch("softmax backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      softmax_backward(s, g_, log_, gout.data<T>(), y_.data<T>(), slot.grad.data<T>(), slot.accumulate);
    });
  }

 private:
  kernels::DimGeometry g_;
  bool log_;
  Tensor y_;  // detached output
};

}  // namespace

namespace ops_detail {
Tensor softmax_dim(const Tensor& x, std::int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_float(x, op, "input");
  const kernels::DimGeometry g = around_dim(x.shape(), wrap_dim(dim, x.dim(), op));
  Tensor y = Tensor::empty_like(x);
  dispatch(op, x, [&](auto s, auto tag) {
    using T = decltype(tag);
    softmax_forward(s, g, log, x.data<T>(), y.data<T>());
  });
  return record(y, std::make_shared<SoftmaxBackward>(g, log, y.detach()), {x});
}
}  // namespace ops_detail

Tensor softmax(const Tensor& x, std::int64_t dim) { return softmax_dim(x, dim, false); }

}  // namespace minidl
