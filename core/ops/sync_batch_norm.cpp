// sync_batch_norm: batch norm over the global batch of a data-parallel job (kernels in
// kernels/sync_batch_norm.h, collectives from core/distributed.h between them).
#include "minidl/core/distributed.h"
#include "minidl/core/ops/batch_norm_args.h"
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/sync_batch_norm.h"

namespace minidl {

using namespace ops_detail;

namespace {

class SyncBatchNormBackward : public Node {
 public:
  SyncBatchNormBackward(const kernels::BatchNormGeometry& g, dist::ProcessGroup& group, Tensor stats, Tensor mean,
                        Tensor invstd)
      : g_(g), group_(group), stats_(std::move(stats)), mean_(std::move(mean)), invstd_(std::move(invstd)) {}
  const char* name() const override { return "SyncBatchNormBackward"; }

  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    const Tensor& x = inputs[0];
    const Tensor& weight = inputs[1];
    const bool acc_params = batch_norm_params_accumulate(gin);
    // [local sum dy, local sum dy (x - mean), then the same summed over ranks]. Every rank
    // reaches this collective: each runs the same graph, whether or not it needs dx.
    const std::int64_t c = g_.c;
    Tensor sums = Tensor::empty({4 * c}, DType::Float64, x.device());
    Tensor global = sums.narrow0(2 * c, 2 * c);
    dispatch("sync_batch_norm backward", gout, [&](auto st, auto tag) {
      using T = decltype(tag);
      batch_norm_grad_sums(st, g_, gout.data<T>(), x.data<T>(), mean_.data<T>(), sums.data<double>());
    });
    global.copy_(sums.narrow0(0, 2 * c));
    group_.all_reduce(global);
    apply_grads(gout, x, weight, sums, global, gin, acc_params);
  }

 private:
  void apply_grads(const Tensor& gout, const Tensor& x, const Tensor& weight, const Tensor& sums, const Tensor& global,
                   std::vector<GradSlot>& gin, bool acc_params) {
    dispatch("sync_batch_norm backward", gout, [&](auto st, auto tag) {
      using T = decltype(tag);
      batch_norm_grad_apply(st, g_, gout.data<T>(), x.data<T>(), ptr<T>(weight), mean_.data<T>(), invstd_.data<T>(),
                            sums.data<double>(), global.data<double>(), stats_.data<double>(),
                            grad_ptr<T>(gin[0]), gin[0].accumulate,
                            grad_ptr<T>(gin[1]), grad_ptr<T>(gin[2]),
                            acc_params);
    });
  }

  kernels::BatchNormGeometry g_;
  dist::ProcessGroup& group_;
  Tensor stats_;  // the forward's global count, sums and squared deviations (float64)
  Tensor mean_, invstd_;
};

}  // namespace

Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, dist::ProcessGroup& group, double momentum, double eps) {
  const kernels::BatchNormGeometry g =
      check_batch_norm_args("sync_batch_norm", x, running_mean, running_var, weight, bias);
  const std::int64_t c = g.c;

  // [count, c sums, c squared deviations], each part summed over ranks before the next is made.
  Tensor stats = Tensor::empty({2 * c + 1}, DType::Float64, x.device());
  dispatch("sync_batch_norm", x, [&](auto st, auto tag) {
    using T = decltype(tag);
    batch_norm_sums(st, g, x.data<T>(), stats.data<double>());
  });
  group.all_reduce(stats.narrow0(0, c + 1));
  dispatch("sync_batch_norm", x, [&](auto st, auto tag) {
    using T = decltype(tag);
    batch_norm_sq_dev(st, g, x.data<T>(), stats.data<double>());
  });
  group.all_reduce(stats.narrow0(c + 1, c));
  // Like batch_norm: the global batch needs more than one value per channel. Read on the host
  // only on the CPU (a GPU build would wait for the device here); the count is known anyway.
  if (x.device().is_cpu())
    MINIDL_CHECK(*stats.data<double>() > 1, "sync_batch_norm: expected more than 1 value per channel over all ranks, "
                 "got ", *stats.data<double>(), " (input ", shape_str(x.shape()), " on this rank)");

  Tensor y = Tensor::empty_like(x);
  Tensor mean = Tensor::empty({c}, x.dtype(), x.device());
  Tensor invstd = Tensor::empty({c}, x.dtype(), x.device());
  dispatch("sync_batch_norm", x, [&](auto st, auto tag) {
    using T = decltype(tag);
    batch_norm_apply_stats(st, g, x.data<T>(), ptr<T>(weight), ptr<T>(bias), stats.data<double>(), eps, momentum,
                           ptr<T>(running_mean), ptr<T>(running_var), y.data<T>(), mean.data<T>(), invstd.data<T>());
  });
  return record(y, std::make_shared<SyncBatchNormBackward>(g, group, stats, mean, invstd), {x, weight, bias});
}

}  // namespace minidl
