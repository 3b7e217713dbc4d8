// Convolution on small output maps (ResNet's last stages: 4x4 and 2x2 at 64x64 input) as GEMMs
// over the batch, one per output position and row of valid kernel taps.
//
// Why: on a 2x2 map a 3x3 kernel with padding 1 reads the padding with 5 of its 9 taps, so
// im2col + GEMM (and oneDNN, which blocks along the tiny width) spend more than half their
// multiply-adds on zeros. Here the batch is the GEMM's n dimension instead: for output position
// o and kernel row r, the taps that land inside the image form one contiguous run of columns s,
// and with the input stored position-major ([position][channel][image]) and the weights
// tap-major ([k][r][s][c]) that run is one plain GEMM of k x n x (run x c), with no zeros in it.
//
//   forward          y_o[k, n]   += W[:, r, s0..s1, :]     [k, run*c]  x X[q0..q1][c][n]  [run*c, n]
//   backward-data   dX_q[c, n]   += W[:, t, :]^T           [c, k]      x dY_o[k, n]
//   backward-weight dW[:, t, :]  += dY_o[k, n]                         x X_q[c, n]^T
//
// Each output block (an output position, an input position, a tap) is summed by one thread in
// a fixed order, so results do not depend on the schedule. The position-major copies cost one
// pass over small tensors (a 2x2 map is 4 values per channel and image); the weight transposes
// one pass over the weights.
#include "minidl/kernels/cpu/conv2d_backends.h"

#include <omp.h>

#include <algorithm>

#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/linear.h"

namespace minidl::kernels::cpu::taps {

using detail::kParallelGrain;
using detail::parallel_for_each;
using detail::Scratch;
using detail::scratch;

namespace {

struct Range {
  std::int64_t begin, end;  // empty when begin >= end
};

// Kernel indices whose input index o * stride - pad + i lies in [0, in).
Range valid_taps(std::int64_t o, std::int64_t stride, std::int64_t pad, std::int64_t in, std::int64_t kernel) {
  const std::int64_t base = o * stride - pad;
  return {std::max<std::int64_t>(0, -base), std::min(kernel, in - base)};
}

// src [n][c][q] -> dst [q][c][n]
template <typename T>
void to_position_major(const T* src, std::int64_t n, std::int64_t c, std::int64_t q, T* dst) {
#pragma omp parallel for schedule(static) if (n * c * q >= kParallelGrain)
  for (std::int64_t cc = 0; cc < c; ++cc)
    for (std::int64_t b = 0; b < n; ++b) {
      const T* s = src + (b * c + cc) * q;
      for (std::int64_t p = 0; p < q; ++p) dst[(p * c + cc) * n + b] = s[p];
    }
}

// dst [n][c][q] = (dst +) src [q][c][n] (+ bias[c])
template <typename T>
void from_position_major(const T* src, std::int64_t n, std::int64_t c, std::int64_t q, T* dst, bool accumulate,
                         const T* bias) {
#pragma omp parallel for schedule(static) if (n * c * q >= kParallelGrain)
  for (std::int64_t cc = 0; cc < c; ++cc) {
    const T add = bias ? bias[cc] : T(0);
    for (std::int64_t b = 0; b < n; ++b) {
      T* d = dst + (b * c + cc) * q;
      for (std::int64_t p = 0; p < q; ++p) {
        const T v = src[(p * c + cc) * n + b] + add;
        d[p] = accumulate ? d[p] + v : v;
      }
    }
  }
}

// w [k][c][t] -> w2 [k][t][c]. A block of 16 channels' taps is 16 * taps contiguous values that
// stay in L1 while they are written out as taps rows of 16: contiguous stores, no strided reads
// from memory (the naive loop's stride-c stores made this a quarter of the forward pass).
template <typename T>
void weights_tap_major(const T* w, std::int64_t k, std::int64_t c, std::int64_t taps, T* w2) {
  constexpr std::int64_t kBlock = 16;
#pragma omp parallel for schedule(static) if (k * c * taps >= kParallelGrain)
  for (std::int64_t kk = 0; kk < k; ++kk)
    for (std::int64_t c0 = 0; c0 < c; c0 += kBlock) {
      const std::int64_t nb = std::min(kBlock, c - c0);
      const T* src = w + (kk * c + c0) * taps;
      for (std::int64_t t = 0; t < taps; ++t) {
        T* dst = w2 + (kk * taps + t) * c + c0;
        for (std::int64_t j = 0; j < nb; ++j) dst[j] = src[j * taps + t];
      }
    }
}

// Rows of each output block given to one task. Whole blocks when they share out evenly over the
// threads (a thinner GEMM repacks its other operand once more per split); otherwise blocks are
// split until they do, or until there are 8 tasks per thread, but never thinner than 32 rows.
std::int64_t rows_per_task(std::int64_t rows, std::int64_t blocks) {
  const std::int64_t threads = omp_get_max_threads();
  std::int64_t splits = 1;
  while ((blocks * splits) % threads != 0 && blocks * splits < 8 * threads && rows / (splits + 1) >= 32) ++splits;
  return (rows + splits - 1) / splits;
}

}  // namespace

template <typename T>
void forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y) {
  const std::int64_t q = g.h * g.w, p = g.oh * g.ow, taps = g.r * g.s;
  T* xt = scratch<T>(Scratch::TapsIn, q * g.c * g.n);
  T* w2 = scratch<T>(Scratch::TapsWeight, g.k * taps * g.c);
  T* yt = scratch<T>(Scratch::TapsOut, p * g.k * g.n);
  to_position_major(x, g.n, g.c, q, xt);
  weights_tap_major(weight, g.k, g.c, taps, w2);
  const std::int64_t rows = rows_per_task(g.k, p), splits = (g.k + rows - 1) / rows;
  parallel_for_each(p * splits, [&](std::int64_t task) {
    const std::int64_t o = task / splits, k0 = task % splits * rows, m = std::min(rows, g.k - k0);
    const std::int64_t oy = o / g.ow, ox = o % g.ow;
    const Range rr = valid_taps(oy, g.stride_h, g.pad_h, g.h, g.r), ss = valid_taps(ox, g.stride_w, g.pad_w, g.w, g.s);
    T* out = yt + (o * g.k + k0) * g.n;
    bool first = true;
    for (std::int64_t r = rr.begin; r < rr.end && ss.begin < ss.end; ++r) {
      const std::int64_t iy = oy * g.stride_h - g.pad_h + r, ix0 = ox * g.stride_w - g.pad_w + ss.begin;
      gemm<T>(Stream{}, false, false, m, g.n, (ss.end - ss.begin) * g.c, T(1),
              w2 + (k0 * taps + r * g.s + ss.begin) * g.c,
              taps * g.c, xt + (iy * g.w + ix0) * g.c * g.n, g.n, first ? T(0) : T(1), out, g.n);
      first = false;
    }
    if (first) std::fill(out, out + m * g.n, T(0));  // every tap reads padding
  });
  from_position_major(yt, g.n, g.k, p, y, false, bias);
}

template <typename T>
void backward_data(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate) {
  const std::int64_t q = g.h * g.w, p = g.oh * g.ow, taps = g.r * g.s;
  T* dyt = scratch<T>(Scratch::TapsOut, p * g.k * g.n);
  T* w2 = scratch<T>(Scratch::TapsWeight, g.k * taps * g.c);
  T* dxt = scratch<T>(Scratch::TapsIn, q * g.c * g.n);
  to_position_major(dy, g.n, g.k, p, dyt);
  weights_tap_major(weight, g.k, g.c, taps, w2);
  const std::int64_t rows = rows_per_task(g.c, q), splits = (g.c + rows - 1) / rows;
  parallel_for_each(q * splits, [&](std::int64_t task) {
    const std::int64_t i = task / splits, c0 = task % splits * rows, m = std::min(rows, g.c - c0);
    const std::int64_t iy = i / g.w, ix = i % g.w;
    T* out = dxt + (i * g.c + c0) * g.n;
    bool first = true;
    // Every output position that reads input position i, and the tap it reads it with.
    for (std::int64_t oy = 0; oy < g.oh; ++oy) {
      const std::int64_t r = iy - oy * g.stride_h + g.pad_h;
      if (r < 0 || r >= g.r) continue;
      for (std::int64_t ox = 0; ox < g.ow; ++ox) {
        const std::int64_t s = ix - ox * g.stride_w + g.pad_w;
        if (s < 0 || s >= g.s) continue;
        gemm<T>(Stream{}, true, false, m, g.n, g.k, T(1), w2 + (r * g.s + s) * g.c + c0, taps * g.c,
                dyt + (oy * g.ow + ox) * g.k * g.n, g.n, first ? T(0) : T(1), out, g.n);
        first = false;
      }
    }
    if (first) std::fill(out, out + m * g.n, T(0));  // no output reads it (skipped by the stride)
  });
  from_position_major(dxt, g.n, g.c, q, dx, accumulate, static_cast<const T*>(nullptr));
}

template <typename T>
void backward_filter(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate) {
  const std::int64_t q = g.h * g.w, p = g.oh * g.ow, taps = g.r * g.s;
  T* xt = scratch<T>(Scratch::TapsIn, q * g.c * g.n);
  T* dyt = scratch<T>(Scratch::TapsOut, p * g.k * g.n);
  T* dw2 = scratch<T>(Scratch::TapsWeight, g.k * taps * g.c);  // [k][t][c]
  to_position_major(x, g.n, g.c, q, xt);
  to_position_major(dy, g.n, g.k, p, dyt);
  const std::int64_t rows = rows_per_task(g.k, taps), splits = (g.k + rows - 1) / rows;
  parallel_for_each(taps * splits, [&](std::int64_t task) {
    const std::int64_t t = task / splits, k0 = task % splits * rows, m = std::min(rows, g.k - k0);
    const std::int64_t r = t / g.s, s = t % g.s;
    T* out = dw2 + (k0 * taps + t) * g.c;
    bool first = true;
    for (std::int64_t oy = 0; oy < g.oh; ++oy) {
      const std::int64_t iy = oy * g.stride_h - g.pad_h + r;
      if (iy < 0 || iy >= g.h) continue;
      for (std::int64_t ox = 0; ox < g.ow; ++ox) {
        const std::int64_t ix = ox * g.stride_w - g.pad_w + s;
        if (ix < 0 || ix >= g.w) continue;
        gemm<T>(Stream{}, false, true, m, g.c, g.n, T(1), dyt + ((oy * g.ow + ox) * g.k + k0) * g.n, g.n,
                xt + (iy * g.w + ix) * g.c * g.n, g.n, first ? T(0) : T(1), out, taps * g.c);
        first = false;
      }
    }
    if (first)  // the tap only ever reads padding
      for (std::int64_t kk = 0; kk < m; ++kk) std::fill(out + kk * taps * g.c, out + kk * taps * g.c + g.c, T(0));
  });
  // dw [k][c][t] (+)= dw2 [k][t][c]
  const std::int64_t size = g.k * g.c * taps;
#pragma omp parallel for schedule(static) if (size >= kParallelGrain)
  for (std::int64_t kk = 0; kk < g.k; ++kk)
    for (std::int64_t cc = 0; cc < g.c; ++cc)
      for (std::int64_t t = 0; t < taps; ++t) {
        const T v = dw2[(kk * taps + t) * g.c + cc];
        T& d = dweight[(kk * g.c + cc) * taps + t];
        d = accumulate ? d + v : v;
      }
}

// Groups and dilation would change which taps form a run and which channels a GEMM spans; the
// small maps this backend is for have neither in the models we train, so such calls go to the
// fallback (im2col) instead.
namespace {
bool supports(ConvDirection, const Conv2dGeometry& g) {
  return g.groups == 1 && g.dilation_h == 1 && g.dilation_w == 1;
}
}  // namespace

template <typename T>
ConvBackend<T> backend() {
  return {"taps", supports, forward<T>, backward_data<T>, backward_filter<T>};
}
template ConvBackend<float> backend<float>();
template ConvBackend<double> backend<double>();

}  // namespace minidl::kernels::cpu::taps
