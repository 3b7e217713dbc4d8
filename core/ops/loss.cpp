// log_softmax, cross_entropy (fused softmax + NLL with weights and label smoothing), argmax.
#include "minidl/core/ops/device_check.h"
#include "minidl/core/ops/dispatch.h"
#include "minidl/core/ops/layout.h"
#include "minidl/kernels/loss.h"

namespace minidl {

using namespace ops_detail;

namespace {

class LogSoftmaxBackward : public Node {
 public:
  explicit LogSoftmaxBackward(Tensor y) : y_(std::move(y)) {}
  const char* name() const override { return "LogSoftmaxBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    if (!gin[0].needed) return;
    const std::int64_t rows = y_.size(0), cols = y_.size(1);
    dispatch("log_softmax backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      log_softmax_backward(s, rows, cols, gout.data<T>(), y_.data<T>(), gin[0].grad.data<T>(), gin[0].accumulate);
    });
  }

 private:
  Tensor y_;
};

class CrossEntropyBackward : public Node {
 public:
  CrossEntropyBackward(Tensor logp, Tensor target, Tensor weight, double smoothing)
      : logp_(std::move(logp)), target_(std::move(target)), weight_(std::move(weight)), smoothing_(smoothing) {}
  const char* name() const override { return "CrossEntropyBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    if (!gin[0].needed) return;
    const std::int64_t rows = logp_.size(0), cols = logp_.size(1);
    // The upstream gradient is read by the kernel where it lies: no host read in backward.
    dispatch("cross_entropy backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      cross_entropy_backward(s, rows, cols, logp_.data<T>(), target_.data<std::int64_t>(), ptr<T>(weight_),
                             smoothing_, gout.data<T>(), gin[0].grad.data<T>(), gin[0].accumulate);
    });
  }

 private:
  Tensor logp_, target_, weight_;
  double smoothing_;
};

}  // namespace

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  check_float(x, "log_softmax", "input");
  // The classifier's case keeps its row kernel; any other dim goes through softmax.cpp's.
  if (!(x.dim() == 2 && (dim == 1 || dim == -1))) return softmax_dim(x, dim, true);
  Tensor y = Tensor::empty_like(x);
  dispatch("log_softmax", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    log_softmax_forward(s, x.size(0), x.size(1), x.data<T>(), y.data<T>());
  });
  return record(y, std::make_shared<LogSoftmaxBackward>(y.detach()), {x});
}

// reduction none and sum, composed of differentiable ops (torch's formula): per sample,
//   loss_i = (1 - eps) * w[t_i] * -logp[i, t_i] + eps / C * sum_c w[c] * -logp[i, c].
// The fused kernel above stays the path for the mean, which training uses.
Tensor cross_entropy_per_sample(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opt) {
  const std::int64_t cols = logits.size(1);
  const Tensor logp = log_softmax(logits, 1);
  Tensor picked = squeeze(gather(logp, 1, unsqueeze(target, 1)), 1);  // [batch]
  const double eps = opt.label_smoothing;
  Tensor loss = neg(picked);
  if (opt.weight.defined()) loss = mul(loss, index_select(opt.weight, 0, target));
  if (eps > 0) {
    Tensor all = opt.weight.defined() ? mul(logp, opt.weight) : logp;
    loss = add(mul(loss, 1.0 - eps), mul(sum(all, 1), -eps / static_cast<double>(cols)));
  }
  return opt.reduction == Reduction::Sum ? sum(loss) : loss;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opt) {
  check_float(logits, "cross_entropy", "logits");
  MINIDL_CHECK(logits.dim() == 2, "cross_entropy: expected logits [batch, classes], got ",
               shape_str(logits.shape()));
  MINIDL_CHECK(target.defined() && target.dtype() == DType::Int64 && target.dim() == 1 &&
                   target.size(0) == logits.size(0),
               "cross_entropy: expected int64 targets [", logits.size(0), "] for logits ",
               shape_str(logits.shape()), ", got ", target.str());
  MINIDL_CHECK(logits.size(0) > 0, "cross_entropy: empty batch");
  const Tensor& w = opt.weight;
  if (w.defined())
    MINIDL_CHECK(w.dim() == 1 && w.size(0) == logits.size(1), "cross_entropy: class weight ", shape_str(w.shape()),
                 " does not match logits ", shape_str(logits.shape()), ": expected [", logits.size(1), "]");
  MINIDL_CHECK(opt.label_smoothing >= 0.0 && opt.label_smoothing <= 1.0,
               "cross_entropy: label_smoothing must be in [0, 1], got ", opt.label_smoothing);
  check_same_device("cross_entropy", {&logits, &target, &w});
  check_same_dtype("cross_entropy", {&logits, &w});

  if (opt.reduction != Reduction::Mean) return cross_entropy_per_sample(logits, target, opt);
  const std::int64_t rows = logits.size(0), cols = logits.size(1);
  Tensor logp = Tensor::empty_like(logits);
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  // A bad target is reported through the check's slot: at once on the CPU, at the next
  // synchronisation on a GPU, so the forward pass never waits for the device.
  IndexCheck bad_target(target, "cross_entropy", "target", "classes", cols);
  dispatch("cross_entropy", logits, [&](auto s, auto tag) {
    using T = decltype(tag);
    cross_entropy_forward(s, rows, cols, logits.data<T>(), target.data<std::int64_t>(), ptr<T>(w),
                          opt.label_smoothing, logp.data<T>(), loss.data<T>(), bad_target.slot());
  });
  bad_target.done();
  return record(loss, std::make_shared<CrossEntropyBackward>(logp, target, w, opt.label_smoothing), {logits});
}

Tensor argmax(const Tensor& x) {
  check_float(x, "argmax", "input");
  check_dim(x, 2, "argmax", "input [rows, cols]");
  Tensor host = x.to(Device::cpu()).to(DType::Float64);
  const std::int64_t rows = x.size(0), cols = x.size(1);
  Tensor out = Tensor::empty({rows}, DType::Int64);
  const double* p = host.data<double>();
  std::int64_t* o = out.data<std::int64_t>();
  for (std::int64_t i = 0; i < rows; ++i) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < cols; ++j)
      if (p[i * cols + j] > p[i * cols + best]) best = j;
    o[i] = best;
  }
  return out;
}

}  // namespace minidl
