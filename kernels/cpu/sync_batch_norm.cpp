// SyncBatchNorm's per-rank kernels on the CPU (kernels/sync_batch_norm.h). As in batch_norm.cpp,
// one thread owns a channel at a time and sums its values in a fixed order, in double.
#include "minidl/kernels/sync_batch_norm.h"

#include <cmath>

#include "minidl/base/error.h"
#include "minidl/kernels/cpu/batch_norm_channel.h"
#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

namespace {

using detail::kParallelGrain;

bool parallel(const BatchNormGeometry& g) { return g.n * g.c * g.hw >= kParallelGrain; }

// The entry points take no forward output to mask dy by, so a fused ReLU (which affine_channel
// would apply in forward only) is refused, as the CUDA twins refuse it.
void check_no_relu(const BatchNormGeometry& g, const char* kernel) {
  MINIDL_CHECK(!g.relu, kernel, ": the sync batch norm kernels have no fused ReLU (BatchNormGeometry::relu is set); "
               "apply relu to their output, as BatchNorm2d does");
}

// f(p) over each image's run of channel ch in x.
template <typename T, typename F>
void each_run(const BatchNormGeometry& g, std::int64_t ch, const T* x, F&& f) {
  for (std::int64_t i = 0; i < g.n; ++i) f(x + (i * g.c + ch) * g.hw);
}

}  // namespace

template <typename T>
void batch_norm_sums(Stream, const BatchNormGeometry& g, const T* x, double* stats) {
  MINIDL_CPU_PROFILE("batch_norm_sums");
  stats[0] = static_cast<double>(g.n * g.hw);
#pragma omp parallel for schedule(static) if (parallel(g))
  for (std::int64_t ch = 0; ch < g.c; ++ch) {
    double s = 0.0;
    each_run(g, ch, x, [&](const T* p) {
#pragma omp simd reduction(+ : s)
      for (std::int64_t j = 0; j < g.hw; ++j) s += static_cast<double>(p[j]);
    });
    stats[1 + ch] = s;
  }
}

template <typename T>
void batch_norm_sq_dev(Stream, const BatchNormGeometry& g, const T* x, double* stats) {
  MINIDL_CPU_PROFILE("batch_norm_sq_dev");
#pragma omp parallel for schedule(static) if (parallel(g))
  for (std::int64_t ch = 0; ch < g.c; ++ch) {
    const double mean = stats[1 + ch] / stats[0];
    double s = 0.0;
    each_run(g, ch, x, [&](const T* p) {
#pragma omp simd reduction(+ : s)
      for (std::int64_t j = 0; j < g.hw; ++j) {
        const double d = static_cast<double>(p[j]) - mean;
        s += d * d;
      }
    });
    stats[1 + g.c + ch] = s;
  }
}

template <typename T>
void batch_norm_apply_stats(Stream, const BatchNormGeometry& g, const T* x, const T* gamma, const T* beta, const double* stats,
                            double eps, double momentum, T* running_mean, T* running_var, T* y, T* save_mean,
                            T* save_invstd) {
  MINIDL_CPU_PROFILE("batch_norm_apply_stats");
  check_no_relu(g, "batch_norm_apply_stats");
  const double count = stats[0];
#pragma omp parallel for schedule(static) if (parallel(g))
  for (std::int64_t ch = 0; ch < g.c; ++ch) {
    const double mean = stats[1 + ch] / count;
    const double var = stats[1 + g.c + ch] / count;
    const double invstd = 1.0 / std::sqrt(var + eps);
    const double unbiased = count > 1 ? var * count / (count - 1) : var;
    detail::channel_save_stats(ch, mean, invstd, unbiased, momentum, save_mean, save_invstd, running_mean, running_var);
    const double a = (gamma ? static_cast<double>(gamma[ch]) : 1.0) * invstd;
    detail::affine_channel(g, x, ch, a, (beta ? static_cast<double>(beta[ch]) : 0.0) - mean * a, y);
  }
}

template <typename T>
void batch_norm_grad_sums(Stream, const BatchNormGeometry& g, const T* dy, const T* x, const T* mean, double* sums) {
  MINIDL_CPU_PROFILE("batch_norm_grad_sums");
  check_no_relu(g, "batch_norm_grad_sums");
#pragma omp parallel for schedule(static) if (parallel(g))
  for (std::int64_t ch = 0; ch < g.c; ++ch) {
    const detail::ChannelGradSums s = detail::channel_grad_sums(g, ch, dy, x, static_cast<double>(mean[ch]));
    sums[ch] = s.dy;
    sums[g.c + ch] = s.dy_xmu;
  }
}

template <typename T>
void batch_norm_grad_apply(Stream, const BatchNormGeometry& g, const T* dy, const T* x, const T* gamma, const T* mean,
                           const T* invstd, const double* local_sums, const double* global_sums, const double* stats,
                           T* dx, bool accumulate_dx, T* dgamma, T* dbeta, bool accumulate_params) {
  MINIDL_CPU_PROFILE("batch_norm_grad_apply");
  check_no_relu(g, "batch_norm_grad_apply");
  const double count = stats[0];
#pragma omp parallel for schedule(static) if (parallel(g))
  for (std::int64_t ch = 0; ch < g.c; ++ch) {
    const double istd = static_cast<double>(invstd[ch]);
    detail::channel_param_grads(ch, {local_sums[ch], local_sums[g.c + ch]}, istd, dgamma, dbeta, accumulate_params);
    if (!dx) continue;
    const T scale = static_cast<T>((gamma ? static_cast<double>(gamma[ch]) : 1.0) * istd);
    const T dy_mean = static_cast<T>(global_sums[ch] / count);
    const T proj = static_cast<T>(global_sums[g.c + ch] * istd * istd / count);
    detail::channel_dx(g, ch, dy, x, dx, accumulate_dx, scale, dy_mean, proj, mean[ch]);
  }
}

MINIDL_INSTANTIATE_SYNC_BATCH_NORM(float)
MINIDL_INSTANTIATE_SYNC_BATCH_NORM(double)

}  // namespace minidl::kernels::cpu
