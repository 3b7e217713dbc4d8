// Batch normalisation over NCHW channels, PyTorch's arithmetic. One thread owns a channel at a
// time: its statistics are sums over all images in a fixed order, so they do not depend on the
// thread count, and each channel is read from memory as n runs of hw contiguous values.
#include "minidl/kernels/batch_norm.h"

#include <algorithm>
#include <cmath>

#include "minidl/base/error.h"
#include "minidl/kernels/cpu/batch_norm_channel.h"
#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

namespace {

using detail::kParallelGrain;

// Sum and sum of squares of one channel, shifted by `shift` (a value of the channel itself) so
// that var = E[d^2] - E[d]^2 does not cancel catastrophically when the mean is far from zero.
struct ChannelSums {
  double sum = 0.0, sum_sq = 0.0;
};
template <typename T>
ChannelSums channel_sums(const BatchNormGeometry& g, const T* x, std::int64_t c, double shift) {
  double sum = 0.0, sum_sq = 0.0;
  for (std::int64_t b = 0; b < g.n; ++b) {
    const T* p = x + (b * g.c + c) * g.hw;
#pragma omp simd reduction(+ : sum, sum_sq)
    for (std::int64_t j = 0; j < g.hw; ++j) {
      const double d = static_cast<double>(p[j]) - shift;
      sum += d;
      sum_sq += d * d;
    }
  }
  return {sum, sum_sq};
}

}  // namespace

template <typename T>
void batch_norm_forward_train(Stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta, double eps,
                              double momentum, T* running_mean, T* running_var, T* y, T* save_mean,
                              T* save_invstd) {
  MINIDL_CPU_PROFILE("batch_norm_forward_train");
  const std::int64_t m = g.n * g.hw;  // values per channel
  // As PyTorch: one value per channel has no variance to normalise by (and no unbiased one).
  MINIDL_CHECK(m > 1, "batch_norm: training needs more than one value per channel, got n=", g.n, " hw=", g.hw,
               " for ", g.c, " channels");
#pragma omp parallel for schedule(static) if (g.n * g.c * g.hw >= kParallelGrain)
  for (std::int64_t c = 0; c < g.c; ++c) {
    const double shift = static_cast<double>(x[c * g.hw]);
    const ChannelSums s = channel_sums(g, x, c, shift);
    const double shifted_mean = s.sum / static_cast<double>(m);
    const double var = std::max(s.sum_sq / static_cast<double>(m) - shifted_mean * shifted_mean, 0.0);
    const double mean = shift + shifted_mean;
    const double invstd = 1.0 / std::sqrt(var + eps);
    const double unbiased = var * static_cast<double>(m) / static_cast<double>(m - 1);
    detail::channel_save_stats(c, mean, invstd, unbiased, momentum, save_mean, save_invstd, running_mean, running_var);
    const double a = (gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd;
    const double b = (beta ? static_cast<double>(beta[c]) : 0.0) - mean * a;
    detail::affine_channel(g, x, c, a, b, y);
  }
}

template <typename T>
void batch_norm_forward_eval(Stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta,
                             const T* running_mean, const T* running_var, double eps, T* y) {
  MINIDL_CPU_PROFILE("batch_norm_forward_eval");
#pragma omp parallel for schedule(static) if (g.n * g.c * g.hw >= kParallelGrain)
  for (std::int64_t c = 0; c < g.c; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    const double a = (gamma ? static_cast<double>(gamma[c]) : 1.0) * invstd;
    const double b = (beta ? static_cast<double>(beta[c]) : 0.0) - static_cast<double>(running_mean[c]) * a;
    detail::affine_channel(g, x, c, a, b, y);
  }
}

// With xhat = (x - mean) * invstd and y = gamma * xhat + beta:
//   dbeta  = sum dy,   dgamma = sum dy * xhat = invstd * sum dy (x - mean)
// and in training, where mean and invstd are functions of x,
//   dx = gamma * invstd * (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy (x - mean)))
// while in evaluation they are constants and dx = gamma * invstd * dy. With a fused ReLU
// (g.relu), dy is the masked gradient throughout: ReLU's backward folded into these passes.
template <typename T>
void batch_norm_backward(Stream, const BatchNormGeometry& g, bool training, const T* dy, const T* x, const T* y,
                         const T* gamma, const T* mean, const T* invstd, double, T* dx, bool accumulate_dx,
                         T* dgamma, T* dbeta, bool accumulate_params) {
  MINIDL_CPU_PROFILE("batch_norm_backward");
  MINIDL_CHECK(!g.relu || y, "batch_norm backward: a fused ReLU needs the forward's output");
  const T* mask = g.relu ? y : nullptr;
  const bool need_sums = dgamma || dbeta || (dx && training);
  const double m = static_cast<double>(g.n * g.hw);
#pragma omp parallel for schedule(static) if (g.n * g.c * g.hw >= kParallelGrain)
  for (std::int64_t c = 0; c < g.c; ++c) {
    const double mu = static_cast<double>(mean[c]), istd = static_cast<double>(invstd[c]);
    const auto sums = need_sums ? detail::channel_grad_sums(g, c, dy, x, mu, mask) : detail::ChannelGradSums{};
    detail::channel_param_grads(c, sums, istd, dgamma, dbeta, accumulate_params);
    if (!dx) continue;

    const T scale = static_cast<T>((gamma ? static_cast<double>(gamma[c]) : 1.0) * istd);
    // In evaluation the two correction terms vanish.
    const T dy_mean = static_cast<T>(training ? sums.dy / m : 0.0);
    const T proj = static_cast<T>(training ? sums.dy_xmu * istd * istd / m : 0.0);
    detail::channel_dx(g, c, dy, x, dx, accumulate_dx, scale, dy_mean, proj, static_cast<T>(mu), mask);
  }
}

MINIDL_INSTANTIATE_BATCH_NORM(float)
MINIDL_INSTANTIATE_BATCH_NORM(double)

}  // namespace minidl::kernels::cpu
