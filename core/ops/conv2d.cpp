// conv2d: shape checks, dispatch, and its backward node.
#include "minidl/config.h"
#include "minidl/core/ops/autocast.h"
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/conv2d.h"

namespace minidl {

using namespace ops_detail;

namespace {

// Under bf16 (autocast.h) every product pairs bf16 operands (the forward's, and in backward the
// upstream gradient rounded too), with FP32 accumulation; the gradients are float32. On the CPU
// the kernels round (kernels/conv2d.h, bf16_operands), so the node keeps nothing but its inputs;
// on a GPU it keeps packed bf16 copies (x_packed_, w_packed_: half the bytes of float32) in the
// order the forward's backend reads (g_.channels_last: cuDNN's NHWC, else NCHW for the implicit
// GEMM), and its backward packs the upstream gradient the same way.
class Conv2dBackward : public Node {
 public:
  Conv2dBackward(const kernels::Conv2dGeometry& g, Bf16Buffer x_packed, Bf16Buffer w_packed)
      : g_(g), x_packed_(std::move(x_packed)), w_packed_(std::move(w_packed)) {}
  const char* name() const override { return "Conv2dBackward"; }

  void backward(const Tensor& grad_output, std::vector<GradSlot>& gin) override {
    if (x_packed_.defined()) return backward_packed(grad_output, gin);
    const Tensor& x = inputs[0];
    const Tensor& w = inputs[1];
    dispatch("conv2d backward", grad_output, [&](auto s, auto tag) {
      using T = decltype(tag);
      if (gin[0].needed)
        conv2d_backward_input(s, g_, grad_output.data<T>(), w.data<T>(), gin[0].grad.data<T>(), gin[0].accumulate);
      if (gin[1].needed)
        conv2d_backward_weight(s, g_, x.data<T>(), grad_output.data<T>(), gin[1].grad.data<T>(), gin[1].accumulate);
      if (gin.size() > 2 && gin[2].needed)
        conv2d_backward_bias(s, g_, grad_output.data<T>(), gin[2].grad.data<T>(), gin[2].accumulate);
    });
  }

 private:
  void backward_packed(const Tensor& grad_output, std::vector<GradSlot>& gin) {
    const Bf16Buffer gout =
        gin[0].needed || gin[1].needed ? Bf16Buffer(grad_output, g_.channels_last) : Bf16Buffer();
    dispatch_cuda_bf16("conv2d backward (bf16)", grad_output, [&](auto s) {
      if (gin[0].needed)
        conv2d_backward_input_bf16(s, g_, gout.data(), w_packed_.data(), gin[0].grad.data<float>(), gin[0].accumulate);
      if (gin[1].needed)
        conv2d_backward_weight_bf16(s, g_, x_packed_.data(), gout.data(), gin[1].grad.data<float>(),
                                    gin[1].accumulate);
      // The bias gradient is a plain sum: FP32, from the unrounded gradient (the forward adds
      // the bias in FP32 too).
      if (gin.size() > 2 && gin[2].needed)
        conv2d_backward_bias(s, g_, grad_output.data<float>(), gin[2].grad.data<float>(), gin[2].accumulate);
    });
  }

  kernels::Conv2dGeometry g_;
  Bf16Buffer x_packed_, w_packed_;  // under bf16 on a GPU only
};

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt) {
  check_float(x, "conv2d", "input");
  check_float(weight, "conv2d", "weight");
  MINIDL_CHECK(x.dim() == 4 && weight.dim() == 4, "conv2d: expected a 4-d input [n, c, h, w] and a 4-d weight ",
               "[out, in, kh, kw], got input ", shape_str(x.shape()), " and weight ", shape_str(weight.shape()));
  MINIDL_CHECK(x.size(0) > 0, "conv2d: empty batch, input ", shape_str(x.shape()));
  MINIDL_CHECK(opt.stride[0] > 0 && opt.stride[1] > 0 && opt.padding[0] >= 0 && opt.padding[1] >= 0,
               "conv2d: stride must be positive and padding non-negative, got stride [", opt.stride[0], ", ",
               opt.stride[1], "] and padding [", opt.padding[0], ", ", opt.padding[1], "]");
  MINIDL_CHECK(opt.dilation[0] > 0 && opt.dilation[1] > 0, "conv2d: dilation must be positive, got [",
               opt.dilation[0], ", ", opt.dilation[1], "]");
  const std::int64_t groups = opt.groups;
  MINIDL_CHECK(groups > 0, "conv2d: groups must be positive, got ", groups);
  MINIDL_CHECK(weight.size(0) % groups == 0, "conv2d: weight ", shape_str(weight.shape()), " has ", weight.size(0),
               " output channels, which groups=", groups, " does not divide");
  MINIDL_CHECK(x.size(1) % groups == 0, "conv2d: input ", shape_str(x.shape()), " has ", x.size(1),
               " channels, which groups=", groups, " does not divide");
  MINIDL_CHECK(x.size(1) == weight.size(1) * groups, "conv2d: input ", shape_str(x.shape()), " has ", x.size(1),
               " channels but weight ", shape_str(weight.shape()), " with groups=", groups, " expects ",
               weight.size(1) * groups, " (weight.size(1) * groups)");
  if (bias.defined())
    MINIDL_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "conv2d: bias ", shape_str(bias.shape()),
                 " does not match weight ", shape_str(weight.shape()), ": expected [", weight.size(0), "]");
  check_same_device("conv2d", {&x, &weight, &bias});
  check_same_dtype("conv2d", {&x, &weight, &bias});

  kernels::Conv2dGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2),
                            weight.size(3), opt.stride[0], opt.stride[1], opt.padding[0], opt.padding[1], 0, 0};
  g.groups = groups;
  g.dilation_h = opt.dilation[0];
  g.dilation_w = opt.dilation[1];
  MINIDL_CHECK(g.finalize(), "conv2d: kernel ", shape_str(weight.shape()), " with padding [", opt.padding[0], ", ",
               opt.padding[1], "] and dilation [", opt.dilation[0], ", ", opt.dilation[1],
               "] does not fit the input ", shape_str(x.shape()));

  g.bf16_operands = autocast_bf16(x);
  Tensor y = Tensor::empty({g.n, g.k, g.oh, g.ow}, x.dtype(), x.device());
#if MINIDL_WITH_CUDA
  if (g.bf16_operands && x.device().is_cuda()) {
    g.channels_last = kernels::cuda::conv2d_bf16_channels_last(g);
    Bf16Buffer xb(x, g.channels_last), wb(weight, g.channels_last);
    dispatch_cuda_bf16("conv2d (bf16)", x, [&](auto s) {
      conv2d_forward_bf16(s, g, xb.data(), wb.data(), ptr<float>(bias), y.data<float>());
    });
    return record(y, std::make_shared<Conv2dBackward>(g, std::move(xb), std::move(wb)), {x, weight, bias});
  }
#endif
  dispatch("conv2d", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    conv2d_forward(s, g, x.data<T>(), weight.data<T>(), ptr<T>(bias), y.data<T>());
  });
  return record(y, std::make_shared<Conv2dBackward>(g, Bf16Buffer(), Bf16Buffer()), {x, weight, bias});
}

}  // namespace minidl
