// max_pool2d, avg_pool2d (kernels/avg_pool_math.h) and adaptive_avg_pool2d.
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/pool.h"

namespace minidl {

using namespace ops_detail;

namespace {

// The checks and output size shared by max_pool2d and avg_pool2d (stride 0: the kernel size).
kernels::Pool2dGeometry pool2d_geometry(const Tensor& x, const char* op, const std::array<std::int64_t, 2>& k,
                                        const std::array<std::int64_t, 2>& stride,
                                        const std::array<std::int64_t, 2>& padding) {
  check_float(x, op, "input");
  check_dim(x, 4, op, "input [n, c, h, w]");
  const std::int64_t sh = stride[0] ? stride[0] : k[0], sw = stride[1] ? stride[1] : k[1];
  MINIDL_CHECK(k[0] > 0 && k[1] > 0 && sh > 0 && sw > 0, op, ": kernel size and stride must be positive");
  MINIDL_CHECK(padding[0] >= 0 && padding[1] >= 0 && padding[0] * 2 <= k[0] && padding[1] * 2 <= k[1], op,
               ": padding [", padding[0], ", ", padding[1], "] must be at most half the kernel size [", k[0], ", ",
               k[1], "]");
  kernels::Pool2dGeometry g{x.size(0), x.size(1), x.size(2), x.size(3), k[0], k[1], sh, sw,
                            padding[0], padding[1], 0, 0};
  MINIDL_CHECK(g.finalize(), op, ": kernel [", k[0], ", ", k[1], "] does not fit the input ", shape_str(x.shape()));
  return g;
}

class MaxPool2dBackward : public Node {
 public:
  MaxPool2dBackward(const kernels::Pool2dGeometry& g, Tensor argmax) : g_(g), argmax_(std::move(argmax)) {}
  const char* name() const override { return "MaxPool2dBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    if (!gin[0].needed) return;
    dispatch("max_pool2d backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      max_pool2d_backward(s, g_, gout.data<T>(), argmax_.data<std::int64_t>(), gin[0].grad.data<T>(),
                          gin[0].accumulate);
    });
  }

 private:
  kernels::Pool2dGeometry g_;
  Tensor argmax_;
};

class AdaptiveAvgPool2dBackward : public Node {
 public:
  AdaptiveAvgPool2dBackward(Shape in, std::int64_t oh, std::int64_t ow) : in_(std::move(in)), oh_(oh), ow_(ow) {}
  const char* name() const override { return "AdaptiveAvgPool2dBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    if (!gin[0].needed) return;
    dispatch("adaptive_avg_pool2d backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      adaptive_avg_pool2d_backward(s, in_[0], in_[1], in_[2], in_[3], oh_, ow_, gout.data<T>(), gin[0].grad.data<T>(),
                                   gin[0].accumulate);
    });
  }

 private:
  Shape in_;
  std::int64_t oh_, ow_;
};

class AvgPool2dBackward : public Node {
 public:
  AvgPool2dBackward(kernels::Pool2dGeometry g, bool count_include_pad) : g_(g), include_pad_(count_include_pad) {}
  const char* name() const override { return "AvgPool2dBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    if (!gin[0].needed) return;
    dispatch("avg_pool2d backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      avg_pool2d_backward(s, g_, include_pad_, gout.data<T>(), gin[0].grad.data<T>(), gin[0].accumulate);
    });
  }

 private:
  kernels::Pool2dGeometry g_;
  bool include_pad_;
};

}  // namespace

Tensor max_pool2d(const Tensor& x, const MaxPool2dOptions& opt) {
  const auto g = pool2d_geometry(x, "max_pool2d", opt.kernel_size, opt.stride, opt.padding);
  Tensor y = Tensor::empty({g.n, g.c, g.oh, g.ow}, x.dtype(), x.device());
  Tensor argmax = Tensor::empty(y.shape(), DType::Int64, x.device());
  dispatch("max_pool2d", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    max_pool2d_forward(s, g, x.data<T>(), y.data<T>(), argmax.data<std::int64_t>());
  });
  return record(y, std::make_shared<MaxPool2dBackward>(g, argmax), {x});
}

Tensor adaptive_avg_pool2d(const Tensor& x, std::array<std::int64_t, 2> output_size) {
  check_float(x, "adaptive_avg_pool2d", "input");
  check_dim(x, 4, "adaptive_avg_pool2d", "input [n, c, h, w]");
  const std::int64_t oh = output_size[0], ow = output_size[1];
  MINIDL_CHECK(oh > 0 && ow > 0 && x.size(2) > 0 && x.size(3) > 0, "adaptive_avg_pool2d: output size [", oh, ", ",
               ow, "] and input ", shape_str(x.shape()), " must be non-empty");
  Tensor y = Tensor::empty({x.size(0), x.size(1), oh, ow}, x.dtype(), x.device());
  dispatch("adaptive_avg_pool2d", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    adaptive_avg_pool2d_forward(s, x.size(0), x.size(1), x.size(2), x.size(3), oh, ow, x.data<T>(), y.data<T>());
  });
  return record(y, std::make_shared<AdaptiveAvgPool2dBackward>(x.shape(), oh, ow), {x});
}

Tensor avg_pool2d(const Tensor& x, const AvgPool2dOptions& opt) {
  const auto g = pool2d_geometry(x, "avg_pool2d", opt.kernel_size, opt.stride, opt.padding);
  Tensor y = Tensor::empty({g.n, g.c, g.oh, g.ow}, x.dtype(), x.device());
  dispatch("avg_pool2d", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    avg_pool2d_forward(s, g, opt.count_include_pad, x.data<T>(), y.data<T>());
  });
  return record(y, std::make_shared<AvgPool2dBackward>(g, opt.count_include_pad), {x});
}

}  // namespace minidl
