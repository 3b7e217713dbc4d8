// relu, add_relu, scalar mul (add and the other broadcasting ops: pointwise.cpp) and the in-place add_ used by the engine and optimisers.
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/elementwise.h"

namespace minidl {

using namespace ops_detail;

namespace {

// dst (+)= alpha * src over all elements.
void scale_into(const Tensor& src, double alpha, const Tensor& dst, bool accumulate) {
  dispatch("scale", src, [&](auto s, auto tag) {
    using T = decltype(tag);
    scale(s, src.numel(), static_cast<T>(alpha), src.data<T>(), dst.data<T>(), accumulate);
  });
}

// dx (+)= dy where y > 0.
void relu_backward_into(const Tensor& dy, const Tensor& y, GradSlot& slot) {
  dispatch("relu backward", dy, [&](auto s, auto tag) {
    using T = decltype(tag);
    relu_backward(s, dy.numel(), dy.data<T>(), y.data<T>(), slot.grad.data<T>(), slot.accumulate);
  });
}

// Backward of relu and add_relu: the mask comes from the saved output, for every input.
class ReluBackward : public Node {
 public:
  explicit ReluBackward(Tensor y, const char* name) : y_(std::move(y)), name_(name) {}
  const char* name() const override { return name_; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    for (auto& slot : gin)
      if (slot.needed) relu_backward_into(gout, y_, slot);
  }

 private:
  Tensor y_;  // detached output: holding the output itself would make a reference cycle
  const char* name_;
};

class ScaleBackward : public Node {
 public:
  explicit ScaleBackward(double alpha, const char* name) : alpha_(alpha), name_(name) {}
  const char* name() const override { return name_; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    for (auto& slot : gin)
      if (slot.needed) scale_into(gout, alpha_, slot.grad, slot.accumulate);
  }

 private:
  double alpha_;
  const char* name_;
};

void check_binary(const char* op, const Tensor& a, const Tensor& b) {
  check_float(a, op, "first input");
  check_float(b, op, "second input");
  MINIDL_CHECK(a.shape() == b.shape(), op, ": shapes differ: ", shape_str(a.shape()), " and ", shape_str(b.shape()));
  check_same_device(op, {&a, &b});
  check_same_dtype(op, {&a, &b});
}

}  // namespace

Tensor relu(const Tensor& x) {
  check_float(x, "relu", "input");
  Tensor y = Tensor::empty_like(x);
  dispatch("relu", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    relu_forward(s, x.numel(), x.data<T>(), y.data<T>());
  });
  return record(y, std::make_shared<ReluBackward>(y.detach(), "ReluBackward"), {x});
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  check_binary("add_relu", a, b);
  Tensor y = Tensor::empty_like(a);
  dispatch("add_relu", a, [&](auto s, auto tag) {
    using T = decltype(tag);
    add_relu(s, a.numel(), a.data<T>(), b.data<T>(), y.data<T>());
  });
  return record(y, std::make_shared<ReluBackward>(y.detach(), "AddReluBackward"), {a, b});
}

Tensor mul(const Tensor& x, double alpha) {
  check_float(x, "mul", "input");
  Tensor y = Tensor::empty_like(x);
  scale_into(x, alpha, y, false);
  return record(y, std::make_shared<ScaleBackward>(alpha, "MulBackward"), {x});
}

void add_(const Tensor& dst, const Tensor& src) {
  check_binary("add_", dst, src);
  scale_into(src, 1.0, dst, true);
}

}  // namespace minidl
