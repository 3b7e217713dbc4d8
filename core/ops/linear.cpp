// linear: x weight^T + bias, PyTorch's layout.
#include "minidl/core/ops/autocast.h"
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/linear.h"

namespace minidl {

using namespace ops_detail;

namespace {

// Under bf16, as Conv2dBackward: the bf16 operands of the forward, the upstream gradient
// rounded to bf16 too, FP32 accumulation; the bias gradient from the unrounded gradient. On the
// CPU the forward's operands are kept as rounded float32 tensors (x_bf16_, w_bf16_) for the
// FP32 GEMM; on a GPU as packed bf16 (x_packed_, w_packed_: half the bytes) for cuBLAS's bf16
// GEMM.
class LinearBackward : public Node {
 public:
  LinearBackward(const kernels::LinearGeometry& g, Tensor x_bf16, Tensor w_bf16, Bf16Buffer x_packed,
                 Bf16Buffer w_packed)
      : g_(g),
        x_bf16_(std::move(x_bf16)),
        w_bf16_(std::move(w_bf16)),
        x_packed_(std::move(x_packed)),
        w_packed_(std::move(w_packed)) {}
  const char* name() const override { return "LinearBackward"; }
  void backward(const Tensor& grad_output, std::vector<GradSlot>& gin) override {
    if (x_packed_.defined()) return backward_packed(grad_output, gin);
    const bool bf16 = x_bf16_.defined();
    const Tensor& x = bf16 ? x_bf16_ : inputs[0];
    const Tensor& w = bf16 ? w_bf16_ : inputs[1];
    const Tensor gout = bf16 && (gin[0].needed || gin[1].needed) ? round_to_bf16(grad_output) : grad_output;
    dispatch("linear backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      if (gin[0].needed)
        linear_backward_input(s, g_, gout.data<T>(), w.data<T>(), gin[0].grad.data<T>(), gin[0].accumulate);
      if (gin[1].needed)
        linear_backward_weight(s, g_, x.data<T>(), gout.data<T>(), gin[1].grad.data<T>(), gin[1].accumulate);
      if (gin[2].needed)
        linear_backward_bias(s, g_, grad_output.data<T>(), gin[2].grad.data<T>(), gin[2].accumulate);
    });
  }

 private:
  void backward_packed(const Tensor& grad_output, std::vector<GradSlot>& gin) {
    const Bf16Buffer gout = gin[0].needed || gin[1].needed ? Bf16Buffer(grad_output) : Bf16Buffer();
    dispatch_cuda_bf16("linear backward (bf16)", grad_output, [&](auto s) {
      if (gin[0].needed)
        linear_backward_input_bf16(s, g_, gout.data(), w_packed_.data(), gin[0].grad.data<float>(), gin[0].accumulate);
      if (gin[1].needed)
        linear_backward_weight_bf16(s, g_, x_packed_.data(), gout.data(), gin[1].grad.data<float>(),
                                    gin[1].accumulate);
      if (gin[2].needed)
        linear_backward_bias(s, g_, grad_output.data<float>(), gin[2].grad.data<float>(), gin[2].accumulate);
    });
  }

  kernels::LinearGeometry g_;
  Tensor x_bf16_, w_bf16_;          // under bf16 on the CPU only
  Bf16Buffer x_packed_, w_packed_;  // under bf16 on a GPU only
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
  const bool bf16 = autocast_bf16(x);
  Tensor y = Tensor::empty({g.batch, g.out}, x.dtype(), x.device());
  if (bf16 && x.device().is_cuda()) {
    // cuBLAS's bf16 GEMM on packed copies; the node keeps them for backward.
    Bf16Buffer xb(x), wb(weight);
    dispatch_cuda_bf16("linear (bf16)", x, [&](auto s) {
      linear_forward_bf16(s, g, xb.data(), wb.data(), ptr<float>(bias), y.data<float>());
    });
    return record(y, std::make_shared<LinearBackward>(g, Tensor(), Tensor(), std::move(xb), std::move(wb)),
                  {x, weight, bias});
  }
  const Tensor xr = bf16 ? round_to_bf16(x) : x, wr = bf16 ? round_to_bf16(weight) : weight;
  dispatch("linear", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    linear_forward(s, g, xr.data<T>(), wr.data<T>(), ptr<T>(bias), y.data<T>());
  });
  return record(y, std::make_shared<LinearBackward>(g, bf16 ? xr : Tensor(), bf16 ? wr : Tensor(), Bf16Buffer(),
                                                    Bf16Buffer()),
                {x, weight, bias});
}

}  // namespace minidl
