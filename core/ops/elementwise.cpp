// relu, add, add_relu, scalar mul and the in-place add_ used by the engine and optimisers.
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/elementwise.h"

namespace minidl {

using namespace ops_detail;
namespace kc = kernels::cpu;

namespace {

// dst (+)= alpha * src over all elements.
void scale_into(const Tensor& src, double alpha, const Tensor& dst, bool accumulate) {
  MINIDL_IF_CUDA(src, kernels::cuda::scale(src.numel(), static_cast<float>(alpha), src.data<float>(),
                                           dst.data<float>(), accumulate, cuda_stream(src))) {
    dispatch_cpu(src, "scale", [&](auto tag) {
      using T = decltype(tag);
      kc::scale<T>(src.numel(), static_cast<T>(alpha), src.data<T>(), dst.data<T>(), accumulate);
    });
  }
}

// dx (+)= dy where y > 0.
void relu_backward_into(const Tensor& dy, const Tensor& y, GradSlot& slot) {
  MINIDL_IF_CUDA(dy, kernels::cuda::relu_backward(dy.numel(), dy.data<float>(), y.data<float>(),
                                                  slot.grad.data<float>(), slot.accumulate, cuda_stream(dy))) {
    dispatch_cpu(dy, "relu backward", [&](auto tag) {
      using T = decltype(tag);
      kc::relu_backward<T>(dy.numel(), dy.data<T>(), y.data<T>(), slot.grad.data<T>(), slot.accumulate);
    });
  }
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
  MINIDL_IF_CUDA(x, kernels::cuda::relu_forward(x.numel(), x.data<float>(), y.data<float>(), cuda_stream(x))) {
    dispatch_cpu(x, "relu", [&](auto tag) {
      using T = decltype(tag);
      kc::relu_forward<T>(x.numel(), x.data<T>(), y.data<T>());
    });
  }
  return record(y, std::make_shared<ReluBackward>(y.detach(), "ReluBackward"), {x});
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_binary("add", a, b);
  Tensor y = Tensor::empty_like(a);
  MINIDL_IF_CUDA(a, kernels::cuda::add(a.numel(), a.data<float>(), b.data<float>(), y.data<float>(),
                                       cuda_stream(a))) {
    dispatch_cpu(a, "add", [&](auto tag) {
      using T = decltype(tag);
      kc::add<T>(a.numel(), a.data<T>(), b.data<T>(), y.data<T>());
    });
  }
  return record(y, std::make_shared<ScaleBackward>(1.0, "AddBackward"), {a, b});
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  check_binary("add_relu", a, b);
  Tensor y = Tensor::empty_like(a);
  MINIDL_IF_CUDA(a, kernels::cuda::add_relu(a.numel(), a.data<float>(), b.data<float>(), y.data<float>(),
                                            cuda_stream(a))) {
    dispatch_cpu(a, "add_relu", [&](auto tag) {
      using T = decltype(tag);
      kc::add_relu<T>(a.numel(), a.data<T>(), b.data<T>(), y.data<T>());
    });
  }
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
