// Batch norm through cuDNN (CUDNN_BATCHNORM_SPATIAL: per-channel statistics over N, H, W, which
// is BatchNorm2d). Descriptors are cached per shape in the context.
#include "minidl/config.h"

#if MINIDL_WITH_CUDNN

#include <climits>

#include "minidl/kernels/cuda/context.h"
#include "minidl/kernels/cuda/cudnn_cache.h"
#include "minidl/kernels/cuda/cudnn_ops.h"

namespace minidl::kernels::cuda::detail {

namespace {

bool fits(const BatchNormGeometry& g) {
  return g.n > 0 && g.c > 0 && g.hw > 0 && g.n <= INT_MAX && g.c <= INT_MAX && g.hw <= INT_MAX;
}

// x as [n, c, hw, 1]; the parameters as [1, c, 1, 1].
BatchNormPlan& plan_for(Context& ctx, const BatchNormGeometry& g) {
  const BatchNormKey key{g.n, g.c, g.hw};
  std::lock_guard<std::mutex> lock(ctx.mutex());
  auto& cache = ctx.cudnn_cache().batch_norm;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto plan = std::make_unique<BatchNormPlan>();
  CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(plan->x.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(g.n), int(g.c), int(g.hw), 1));
  CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(plan->param.get(), plan->x.get(), CUDNN_BATCHNORM_SPATIAL));
  BatchNormPlan& ref = *plan;
  cache.emplace(key, std::move(plan));
  return ref;
}

}  // namespace

bool cudnn_batch_norm_forward_train(const BatchNormGeometry& g, const float* x, const float* gamma, const float* beta,
                                    double eps, double momentum, float* running_mean, float* running_var, float* y,
                                    float* save_mean, float* save_invstd, cudaStream_t s) {
  // cuDNN needs both affine parameters, takes the running statistics both or neither, the
  // saved ones both or neither, and refuses eps below CUDNN_BN_MIN_EPSILON.
  if (!fits(g) || !gamma || !beta || eps < CUDNN_BN_MIN_EPSILON || g.n * g.hw < 2) return false;
  if ((running_mean == nullptr) != (running_var == nullptr)) return false;
  if ((save_mean == nullptr) != (save_invstd == nullptr)) return false;
  Context& ctx = context();
  BatchNormPlan& p = plan_for(ctx, g);
  const float one = 1.f, zero = 0.f;
  // cuDNN's running update is running = (1 - factor) running + factor batch, with the unbiased
  // variance, and it saves 1/sqrt(var + eps): PyTorch's (and our) conventions exactly.
  CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(ctx.cudnn(s), CUDNN_BATCHNORM_SPATIAL, &one, &zero, p.x.get(), x,
                                                     p.x.get(), y, p.param.get(), gamma, beta, momentum, running_mean,
                                                     running_var, eps, save_mean, save_invstd));
  return true;
}

bool cudnn_batch_norm_forward_eval(const BatchNormGeometry& g, const float* x, const float* gamma, const float* beta,
                                   const float* running_mean, const float* running_var, double eps, float* y,
                                   cudaStream_t s) {
  if (!fits(g) || !gamma || !beta || eps < CUDNN_BN_MIN_EPSILON) return false;
  Context& ctx = context();
  BatchNormPlan& p = plan_for(ctx, g);
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnBatchNormalizationForwardInference(ctx.cudnn(s), CUDNN_BATCHNORM_SPATIAL, &one, &zero, p.x.get(), x,
                                                      p.x.get(), y, p.param.get(), gamma, beta, running_mean,
                                                      running_var, eps));
  return true;
}

bool cudnn_batch_norm_backward(const BatchNormGeometry& g, bool training, const float* dy, const float* x,
                               const float* gamma, const float* mean, const float* invstd, double eps, float* dx,
                               bool accumulate_dx, float* dgamma, float* dbeta, bool accumulate_params,
                               cudaStream_t s) {
  // cuDNN's backward is the training-mode one and computes all three gradients; the forward
  // refused eps below CUDNN_BN_MIN_EPSILON, so such statistics came from our kernels: keep
  // backward on ours too.
  if (!fits(g) || !training || !gamma || !dx || !dgamma || !dbeta || !mean || !invstd || eps < CUDNN_BN_MIN_EPSILON)
    return false;
  Context& ctx = context();
  BatchNormPlan& p = plan_for(ctx, g);
  const float one = 1.f, beta_dx = accumulate_dx ? 1.f : 0.f, beta_params = accumulate_params ? 1.f : 0.f;
  // The forward's epsilon, as cuDNN's API asks: with the saved mean and inverse std given it
  // should not need it, but nothing promises that every engine leaves it unused.
  CUDNN_CHECK(cudnnBatchNormalizationBackward(ctx.cudnn(s), CUDNN_BATCHNORM_SPATIAL, &one, &beta_dx, &one, &beta_params,
                                              p.x.get(), x, p.x.get(), dy, p.x.get(), dx, p.param.get(), gamma, dgamma,
                                              dbeta, eps, mean, invstd));
  return true;
}

}  // namespace minidl::kernels::cuda::detail

#endif  // MINIDL_WITH_CUDNN
