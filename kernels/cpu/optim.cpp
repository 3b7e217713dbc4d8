// SGD and AdamW updates, written as PyTorch's single-tensor implementations compute them:
// hyper-parameters are Python floats (double) turned into the parameter's type once, and each
// element's arithmetic happens in that type in the same order, so a float32 run follows
// PyTorch's float32 rounding rather than a mathematically equal but differently rounded form.
#include "minidl/kernels/optim.h"

#include <cmath>

#include "minidl/base/error.h"
#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

using detail::kParallelGrain;

namespace {

template <typename T>
void sgd_one(const ParamSlice<T>& p, const SgdStepOptions& o, bool first_step, const double* scalars) {
  MINIDL_CHECK(o.momentum == 0.0 || p.n <= 0 || p.state1, "sgd_step: momentum ", o.momentum,
               " needs a momentum buffer, got none for a parameter of ", p.n, " elements");
  const double lr = scalars ? scalars[0] : o.lr, weight_decay = scalars ? scalars[1] : o.weight_decay;
  const T wd = static_cast<T>(weight_decay), momentum = static_cast<T>(o.momentum);
  const T keep = static_cast<T>(1.0 - o.dampening), neg_lr = static_cast<T>(-lr);
  const bool decay = weight_decay != 0.0, use_momentum = o.momentum != 0.0;
  T* param = p.param;
  const T* grad = p.grad;
  T* buf = p.state1;
#pragma omp parallel for simd schedule(static) if (p.n >= kParallelGrain)
  for (std::int64_t i = 0; i < p.n; ++i) {
    T g = grad[i];
    if (decay) g = g + wd * param[i];
    if (use_momentum) {
      // The buffer starts as a copy of the first gradient, undamped (PyTorch's clone).
      const T b = first_step ? g : buf[i] * momentum + keep * g;
      buf[i] = b;
      g = o.nesterov ? g + momentum * b : b;
    }
    param[i] = param[i] + neg_lr * g;
  }
}

// The step's factors in double (kAdamWScalars: 1 - lr*wd, lr / (1 - beta1^t), sqrt(1 - beta2^t)):
// from scalars when set, else from o's fields; adamw_write_scalars writes what this computes.
void adamw_factors(const AdamWStepOptions& o, const double* scalars, double* f) {
  if (scalars) {
    for (int i = 0; i < kAdamWScalars; ++i) f[i] = scalars[i];
    return;
  }
  const double bias_correction1 = 1.0 - std::pow(o.beta1, static_cast<double>(o.step));
  const double bias_correction2 = 1.0 - std::pow(o.beta2, static_cast<double>(o.step));
  f[0] = 1.0 - o.lr * o.weight_decay;
  f[1] = o.lr / bias_correction1;
  f[2] = std::sqrt(bias_correction2);
}

template <typename T>
void adamw_one(const ParamSlice<T>& p, const AdamWStepOptions& o, const double* scalars) {
  double f[kAdamWScalars];
  adamw_factors(o, scalars, f);
  const T decay = static_cast<T>(f[0]);
  const T w1 = static_cast<T>(1.0 - o.beta1);  // exp_avg.lerp_(grad, 1 - beta1)
  const T beta2 = static_cast<T>(o.beta2), w2 = static_cast<T>(1.0 - o.beta2);
  const T neg_step_size = static_cast<T>(-f[1]);
  const T bc2_sqrt = static_cast<T>(f[2]), eps = static_cast<T>(o.eps);
  const bool small_w1 = std::abs(w1) < T(0.5);
  T* param = p.param;
  const T* grad = p.grad;
  T* m = p.state1;
  T* v = p.state2;
#pragma omp parallel for simd schedule(static) if (p.n >= kParallelGrain)
  for (std::int64_t i = 0; i < p.n; ++i) {
    const T g = grad[i];
    const T pi = param[i] * decay;  // decoupled weight decay, before the Adam step
    // PyTorch's lerp: the form that is exact at the end its weight is nearer to.
    const T mi = small_w1 ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * (T(1) - w1);
    const T vi = v[i] * beta2 + w2 * g * g;
    const T denom = std::sqrt(vi) / bc2_sqrt + eps;
    m[i] = mi;
    v[i] = vi;
    param[i] = pi + neg_step_size * mi / denom;
  }
}

}  // namespace

// One tensor after the other, each threaded on its own, in the order given: the same order as
// the one-tensor-at-a-time loop PyTorch runs, so results match it bit for bit.
template <typename T>
void sgd_step(Stream, const ParamSlice<T>* params, int count, const SgdStepOptions& o, bool first_step,
              const double* scalars) {
  MINIDL_CPU_PROFILE("sgd_step");
  for (int i = 0; i < count; ++i) sgd_one(params[i], o, first_step, scalars);
}

template <typename T>
void adamw_step(Stream, const ParamSlice<T>* params, int count, const AdamWStepOptions& o, const double* scalars) {
  MINIDL_CPU_PROFILE("adamw_step");
  MINIDL_CHECK(o.step >= 1, "adamw_step: step counts from 1, got ", o.step);
  for (int i = 0; i < count; ++i) adamw_one(params[i], o, scalars);
}

// On the CPU the stream runs each call at once, so a plain store is stream-ordered.
void sgd_write_scalars(Stream, const SgdStepOptions& o, double* scalars) {
  scalars[0] = o.lr;
  scalars[1] = o.weight_decay;
}

void adamw_write_scalars(Stream, const AdamWStepOptions& o, double* scalars) {
  MINIDL_CHECK(o.step >= 1, "adamw_write_scalars: step counts from 1, got ", o.step);
  adamw_factors(o, nullptr, scalars);
}

// Each tensor's sum of squares in double (detail::blocked_sum), added in tensor order.
template <typename T>
void total_norm(Stream, const Span<const T>* xs, int count, double* norm) {
  MINIDL_CPU_PROFILE("total_norm");
  double total = 0.0;
  for (int i = 0; i < count; ++i) total += detail::blocked_sum(xs[i].n, xs[i].data, [](double v) { return v * v; });
  *norm = std::sqrt(total);
}

template <typename T>
void clip_by_norm(Stream, const Span<T>* xs, int count, const double* norm, double max_norm) {
  MINIDL_CPU_PROFILE("clip_by_norm");
  const double coef = max_norm / (*norm + 1e-6);
  if (!(coef < 1.0)) return;
  const T c = static_cast<T>(coef);
  for (int i = 0; i < count; ++i) {
    T* x = xs[i].data;
#pragma omp parallel for simd schedule(static) if (xs[i].n >= kParallelGrain)
    for (std::int64_t j = 0; j < xs[i].n; ++j) x[j] = c * x[j];
  }
}

MINIDL_INSTANTIATE_OPTIM(float)
MINIDL_INSTANTIATE_OPTIM(double)

}  // namespace minidl::kernels::cpu
