// The per-channel pieces both CPU batch norms are made of: batch_norm.cpp (one process's batch)
// and sync_batch_norm.cpp (the sums all-reduced over ranks in between). One thread owns a
// channel; its n runs of hw contiguous values are summed in a fixed order, in double.
#pragma once

#include <cstdint>

#include "minidl/kernels/batch_norm.h"

namespace minidl::kernels::cpu::detail {

// Saves channel c's batch statistics for backward and moves the running ones toward them, as
// PyTorch: running = (1 - momentum) * running + momentum * batch, with the unbiased variance.
// Any pointer may be null.
template <typename T>
void channel_save_stats(std::int64_t c, double mean, double invstd, double unbiased_var, double momentum,
                        T* save_mean, T* save_invstd, T* running_mean, T* running_var) {
  if (save_mean) save_mean[c] = static_cast<T>(mean);
  if (save_invstd) save_invstd[c] = static_cast<T>(invstd);
  if (running_mean)
    running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
  if (running_var)
    running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased_var);
}

// y = x * a + b over channel c of every image; a = gamma * invstd, b = beta - mean * a, the form
// PyTorch's CPU kernel uses. With g.relu, y = relu(x * a + b), as relu_forward (NaN passes).
template <typename T>
void affine_channel(const BatchNormGeometry& g, const T* x, std::int64_t c, double a, double b, T* y) {
  const T ta = static_cast<T>(a), tb = static_cast<T>(b);
  for (std::int64_t i = 0; i < g.n; ++i) {
    const T* p = x + (i * g.c + c) * g.hw;
    T* q = y + (i * g.c + c) * g.hw;
    if (g.relu) {
#pragma omp simd
      for (std::int64_t j = 0; j < g.hw; ++j) {
        const T v = p[j] * ta + tb;
        q[j] = v < T(0) ? T(0) : v;
      }
    } else {
#pragma omp simd
      for (std::int64_t j = 0; j < g.hw; ++j) q[j] = p[j] * ta + tb;
    }
  }
}

// The upstream gradient as batch norm's backward sees it: dy itself, or with a fused ReLU dy
// where the forward's output y > 0 and 0 where y <= 0, as relu_backward. The loops below must
// vectorise it to a select: batch_norm.cpp is compiled with -fno-trapping-math for that
// (CMakeLists.txt), since without it gcc 12 kept the compare a branch in the reduction loop.
template <typename T>
inline T masked_dy(T dy, T y) {
  return y <= T(0) ? T(0) : dy;
}

struct ChannelGradSums {
  double dy = 0.0;      // sum dy
  double dy_xmu = 0.0;  // sum dy * (x - mean)
};

// The sums over channel c's values, mu being its mean. mask: the forward's output when a ReLU
// is fused (g.relu), else null.
template <bool Masked, typename T>
ChannelGradSums channel_grad_sums_impl(const BatchNormGeometry& g, std::int64_t c, const T* dy, const T* x,
                                       const T* mask, double mu) {
  double sum_dy = 0.0, sum_dy_xmu = 0.0;
  for (std::int64_t b = 0; b < g.n; ++b) {
    const std::int64_t at = (b * g.c + c) * g.hw;
    const T* pdy = dy + at;
    const T* px = x + at;
    const T* pm = Masked ? mask + at : nullptr;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xmu)
    for (std::int64_t j = 0; j < g.hw; ++j) {
      T dj = pdy[j];
      if constexpr (Masked) dj = masked_dy(dj, pm[j]);
      const double d = static_cast<double>(dj);
      sum_dy += d;
      sum_dy_xmu += d * (static_cast<double>(px[j]) - mu);
    }
  }
  return {sum_dy, sum_dy_xmu};
}
template <typename T>
ChannelGradSums channel_grad_sums(const BatchNormGeometry& g, std::int64_t c, const T* dy, const T* x, double mu,
                                  const T* mask = nullptr) {
  return mask ? channel_grad_sums_impl<true>(g, c, dy, x, mask, mu) : channel_grad_sums_impl<false>(g, c, dy, x, mask, mu);
}

// dbeta[c] (+)= sum dy and dgamma[c] (+)= sum dy (x - mean) * invstd; either may be null.
template <typename T>
void channel_param_grads(std::int64_t c, const ChannelGradSums& sums, double istd, T* dgamma, T* dbeta,
                         bool accumulate) {
  if (dbeta) dbeta[c] = static_cast<T>(sums.dy + (accumulate ? static_cast<double>(dbeta[c]) : 0.0));
  if (dgamma) dgamma[c] = static_cast<T>(sums.dy_xmu * istd + (accumulate ? static_cast<double>(dgamma[c]) : 0.0));
}

// dx (+)= (dy - dy_mean - (x - mu) * proj) * scale over channel c's values; dy masked by `mask`
// (the forward's output) when a ReLU is fused, as channel_grad_sums.
template <bool Masked, typename T>
void channel_dx_impl(const BatchNormGeometry& g, std::int64_t c, const T* dy, const T* x, const T* mask, T* dx,
                     bool accumulate, T scale, T dy_mean, T proj, T mu) {
  for (std::int64_t b = 0; b < g.n; ++b) {
    const std::int64_t at = (b * g.c + c) * g.hw;
    const T* pdy = dy + at;
    const T* px = x + at;
    const T* pm = Masked ? mask + at : nullptr;
    T* pdx = dx + at;
    if (accumulate) {
#pragma omp simd
      for (std::int64_t j = 0; j < g.hw; ++j)
        pdx[j] += ((Masked ? masked_dy(pdy[j], pm[j]) : pdy[j]) - dy_mean - (px[j] - mu) * proj) * scale;
    } else {
#pragma omp simd
      for (std::int64_t j = 0; j < g.hw; ++j)
        pdx[j] = ((Masked ? masked_dy(pdy[j], pm[j]) : pdy[j]) - dy_mean - (px[j] - mu) * proj) * scale;
    }
  }
}
template <typename T>
void channel_dx(const BatchNormGeometry& g, std::int64_t c, const T* dy, const T* x, T* dx, bool accumulate, T scale,
                T dy_mean, T proj, T mu, const T* mask = nullptr) {
  if (mask)
    channel_dx_impl<true>(g, c, dy, x, mask, dx, accumulate, scale, dy_mean, proj, mu);
  else
    channel_dx_impl<false>(g, c, dy, x, mask, dx, accumulate, scale, dy_mean, proj, mu);
}

}  // namespace minidl::kernels::cpu::detail
