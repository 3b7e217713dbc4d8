// batch_norm: training (batch statistics, running-statistics update) and evaluation (running
// statistics), chosen by the caller on every call; batch_norm_relu: the same followed by a ReLU,
// in the same kernels (BatchNormGeometry::relu).
#include "minidl/core/ops/batch_norm_args.h"
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/batch_norm.h"

#include <cmath>

namespace minidl {

using namespace ops_detail;

namespace {

// Saves the statistics the output was normalised with: the batch's (training) or the running
// ones as they were at forward time (evaluation), so a later update cannot change backward.
class BatchNormBackward : public Node {
 public:
  BatchNormBackward(const kernels::BatchNormGeometry& g, bool training, double eps, Tensor mean, Tensor invstd,
                    Tensor y)
      : g_(g), training_(training), eps_(eps), mean_(std::move(mean)), invstd_(std::move(invstd)), y_(std::move(y)) {}
  const char* name() const override { return g_.relu ? "BatchNormReluBackward" : "BatchNormBackward"; }

  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    const Tensor& x = inputs[0];
    const Tensor& weight = inputs[1];
    const bool acc_params = batch_norm_params_accumulate(gin);
    dispatch("batch_norm backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      batch_norm_backward(s, g_, training_, gout.data<T>(), x.data<T>(), ptr<T>(y_), ptr<T>(weight), mean_.data<T>(),
                          invstd_.data<T>(), eps_, grad_ptr<T>(gin[0]), gin[0].accumulate,
                          grad_ptr<T>(gin[1]), grad_ptr<T>(gin[2]),
                          acc_params);
    });
  }

 private:
  kernels::BatchNormGeometry g_;
  bool training_;
  double eps_;  // the forward's: cuDNN's backward is given it
  Tensor mean_, invstd_;
  Tensor y_;  // with a fused ReLU, the detached output (its mask); undefined otherwise
};

}  // namespace

namespace ops_detail {

namespace {
void check_channel_vector(const char* op, const Tensor& t, std::int64_t c, const Tensor& x, const char* arg) {
  if (!t.defined()) return;
  MINIDL_CHECK(t.dim() == 1 && t.size(0) == c, op, ": ", arg, " ", shape_str(t.shape()), " does not match input ",
               shape_str(x.shape()), ": expected [", c, "]");
}
}  // namespace

bool batch_norm_params_accumulate(std::vector<GradSlot>& gin) {
  const bool acc = (gin[1].needed && gin[1].accumulate) || (gin[2].needed && gin[2].accumulate);
  for (int i : {1, 2})
    if (gin[i].needed && acc && !gin[i].accumulate) gin[i].grad.zero_();
  return acc;
}

kernels::BatchNormGeometry check_batch_norm_args(const char* op, const Tensor& x, const Tensor& running_mean,
                                                 const Tensor& running_var, const Tensor& weight, const Tensor& bias) {
  check_float(x, op, "input");
  MINIDL_CHECK(x.dim() == 4 || x.dim() == 2, op, ": expected input [n, c, h, w] or [n, c], got ", shape_str(x.shape()));
  const std::int64_t c = x.size(1);
  check_channel_vector(op, running_mean, c, x, "running_mean");
  check_channel_vector(op, running_var, c, x, "running_var");
  check_channel_vector(op, weight, c, x, "weight");
  check_channel_vector(op, bias, c, x, "bias");
  MINIDL_CHECK(running_mean.defined() == running_var.defined(), op,
               ": running_mean and running_var must be both given or both absent");
  check_same_device(op, {&x, &running_mean, &running_var, &weight, &bias});
  check_same_dtype(op, {&x, &running_mean, &running_var, &weight, &bias});
  return {x.size(0), c, x.dim() == 4 ? x.size(2) * x.size(3) : 1};
}

}  // namespace ops_detail

namespace {

Tensor batch_norm_impl(const char* op, bool relu, const Tensor& x, const Tensor& running_mean,
                       const Tensor& running_var, const Tensor& weight, const Tensor& bias, bool training,
                       double momentum, double eps) {
  kernels::BatchNormGeometry g = check_batch_norm_args(op, x, running_mean, running_var, weight, bias);
  g.relu = relu;
  const std::int64_t c = g.c;
  MINIDL_CHECK(training || running_mean.defined(), op, ": evaluation mode needs running statistics");
  MINIDL_CHECK(!training || g.n * g.hw > 1, op, ": expected more than 1 value per channel when training, got input ",
               shape_str(x.shape()));

  Tensor y = Tensor::empty_like(x);
  Tensor mean = Tensor::empty({c}, x.dtype(), x.device());
  Tensor invstd = Tensor::empty({c}, x.dtype(), x.device());
  dispatch(op, x, [&](auto s, auto tag) {
    using T = decltype(tag);
    if (training)
      batch_norm_forward_train(s, g, x.data<T>(), ptr<T>(weight), ptr<T>(bias), eps, momentum, ptr<T>(running_mean),
                               ptr<T>(running_var), y.data<T>(), mean.data<T>(), invstd.data<T>());
    else
      batch_norm_forward_eval(s, g, x.data<T>(), ptr<T>(weight), ptr<T>(bias), running_mean.data<T>(),
                              running_var.data<T>(), eps, y.data<T>());
  });
  if (!training && any_requires_grad({&x, &weight, &bias})) {
    // Backward in evaluation mode treats the running statistics as constants: snapshot them.
    mean.copy_(running_mean);
    Tensor var = running_var.to(Device::cpu()).to(DType::Float64);
    std::vector<double> v = var.to_vector<double>();
    for (double& e : v) e = 1.0 / std::sqrt(e + eps);
    invstd.copy_(Tensor::from_vector(v).to(x.dtype()).to(x.device()));
  }
  // The fused ReLU's mask is the output itself, detached: holding y would make a reference cycle.
  return record(y, std::make_shared<BatchNormBackward>(g, training, eps, mean, invstd, relu ? y.detach() : Tensor()),
                {x, weight, bias});
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  return batch_norm_impl("batch_norm", false, x, running_mean, running_var, weight, bias, training, momentum, eps);
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, bool training, double momentum, double eps) {
  return batch_norm_impl("batch_norm_relu", true, x, running_mean, running_var, weight, bias, training, momentum, eps);
}

}  // namespace minidl
