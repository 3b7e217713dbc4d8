// sum and mean over all elements.
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/elementwise.h"

namespace minidl {

using namespace ops_detail;
namespace kc = kernels::cpu;

namespace {

// d(alpha * sum(x)) / dx = alpha everywhere: a broadcast of the upstream scalar.
class SumBackward : public Node {
 public:
  SumBackward(double alpha, const char* name) : alpha_(alpha), name_(name) {}
  const char* name() const override { return name_; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    GradSlot& slot = gin[0];
    if (!slot.needed) return;
    const std::int64_t n = slot.grad.numel();
    MINIDL_IF_CUDA(gout, kernels::cuda::fill_from_scalar(n, gout.data<float>(), static_cast<float>(alpha_),
                                                         slot.grad.data<float>(), slot.accumulate,
                                                         cuda_stream(gout))) {
      dispatch_cpu(gout, "sum backward", [&](auto tag) {
        using T = decltype(tag);
        const T g = static_cast<T>(gout.item() * alpha_);
        if (!slot.accumulate) {
          kc::fill<T>(n, g, slot.grad.data<T>());
        } else {
          Tensor ones = Tensor::ones(slot.grad.shape(), slot.grad.dtype());
          kc::scale<T>(n, g, ones.data<T>(), slot.grad.data<T>(), true);
        }
      });
    }
  }

 private:
  double alpha_;
  const char* name_;
};

Tensor reduce(const Tensor& x, bool mean, const char* op) {
  check_float(x, op, "input");
  const double alpha = mean ? 1.0 / static_cast<double>(x.numel() ? x.numel() : 1) : 1.0;
  Tensor y = Tensor::empty({}, x.dtype(), x.device());
  MINIDL_IF_CUDA(x, {
    kernels::Stream s = cuda_stream(x);
    kernels::cuda::sum(x.numel(), x.data<float>(), y.data<float>(), s);
    if (mean) kernels::cuda::scale(1, static_cast<float>(alpha), y.data<float>(), y.data<float>(), false, s);
  }) {
    dispatch_cpu(x, op, [&](auto tag) {
      using T = decltype(tag);
      *y.data<T>() = static_cast<T>(kc::sum<T>(x.numel(), x.data<T>()) * alpha);
    });
  }
  return record(y, std::make_shared<SumBackward>(alpha, mean ? "MeanBackward" : "SumBackward"), {x});
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce(x, false, "sum"); }
Tensor mean(const Tensor& x) { return reduce(x, true, "mean"); }

}  // namespace minidl
