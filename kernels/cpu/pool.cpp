// Max pooling and adaptive average pooling over NCHW planes. Planes are independent, so each
// thread takes whole planes: no two threads ever write the same element, and a backward scatter
// into a plane needs no atomics.
#include "minidl/kernels/pool.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

namespace {

using detail::kParallelGrain;

// PyTorch's adaptive pooling window of output i over an input of `in` cells split into `out`.
std::int64_t window_start(std::int64_t i, std::int64_t in, std::int64_t out) { return i * in / out; }
std::int64_t window_end(std::int64_t i, std::int64_t in, std::int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// The max-pool scan, as PyTorch does it: taps in row-major window order from -inf, a strictly
// greater value takes over (ties go to the first) and a NaN always does (NaN propagates).
template <typename T>
inline bool takes_over(T v, T best) {
  return v > best || v != v;
}

// One window, rows [ybeg, yend) x columns [xbeg, xend) of a plane, clipped to the image.
template <typename T>
void window_max(const T* in, std::int64_t w, std::int64_t ybeg, std::int64_t yend, std::int64_t xbeg,
                std::int64_t xend, T* best_out, std::int64_t* at_out) {
  T best = -std::numeric_limits<T>::infinity();
  std::int64_t at = ybeg * w + xbeg;
  for (std::int64_t iy = ybeg; iy < yend; ++iy)
    for (std::int64_t ix = xbeg; ix < xend; ++ix)
      if (takes_over(in[iy * w + ix], best)) {
        best = in[iy * w + ix];
        at = iy * w + ix;
      }
  *best_out = best;
  *at_out = at;
}

// The windows ox in [lo, hi) of one output row, all of whose columns are inside the image. A
// window's scan is a chain of dependent compare-and-selects, slow one window at a time; here
// the loops are turned around, each tap being applied to all the row's windows at once, which
// vectorises across windows and keeps every window's taps in the same order.
template <typename T>
void interior_row_max(const T* in, std::int64_t w, std::int64_t kw, std::int64_t stride_w, std::int64_t pad_w,
                      std::int64_t ybeg, std::int64_t yend, std::int64_t lo, std::int64_t hi, T* out,
                      std::int64_t* arg) {
  for (std::int64_t ox = lo; ox < hi; ++ox) {
    out[ox] = -std::numeric_limits<T>::infinity();
    arg[ox] = ybeg * w + ox * stride_w - pad_w;
  }
  for (std::int64_t iy = ybeg; iy < yend; ++iy)
    for (std::int64_t kx = 0; kx < kw; ++kx) {
      const std::int64_t base = iy * w - pad_w + kx;  // index of the tap for ox = 0
#pragma omp simd
      for (std::int64_t ox = lo; ox < hi; ++ox) {
        const std::int64_t at = base + ox * stride_w;
        const T v = in[at];
        const bool take = takes_over(v, out[ox]);
        out[ox] = take ? v : out[ox];
        arg[ox] = take ? at : arg[ox];
      }
    }
}

// ResNet's stem pool, 3x3 stride 2 padding 1, on one plane. With stride 2 the three columns of
// window ox are 2ox-1, 2ox and 2ox+1: odd column ox-1, even column ox and odd column ox. Each
// input row is split once into its even and odd columns, and then every tap is a contiguous run
// over the output row: plain vector loads where the general loop needs gathers, and 32-bit
// indices (widened once at the end) where it selects 64-bit ones. The taps are taken in the same
// row-major order with the same takes_over rule, so values and indices are the general path's.
template <typename T>
void max_pool_3x3s2p1_plane(const Pool2dGeometry& g, const T* in, T* out, std::int64_t* argmax, T* even, T* odd,
                            T* best, std::int32_t* at) {
  const std::int64_t w = g.w, half_even = (w + 1) / 2, half_odd = w / 2;
  for (std::int64_t iy = 0; iy < g.h; ++iy) {
    const T* row = in + iy * w;
    T* e = even + iy * half_even;
    T* o = odd + iy * half_odd;
    for (std::int64_t j = 0; j < half_even; ++j) e[j] = row[2 * j];
    for (std::int64_t j = 0; j < half_odd; ++j) o[j] = row[2 * j + 1];
  }
  const std::int64_t ow = g.ow;
  for (std::int64_t oy = 0; oy < g.oh; ++oy) {
    const std::int64_t ybeg = std::max<std::int64_t>(2 * oy - 1, 0), yend = std::min(2 * oy + 2, g.h);
    // The first in-image cell of each window: what a window of -inf values reports.
    for (std::int64_t ox = 0; ox < ow; ++ox) {
      best[ox] = -std::numeric_limits<T>::infinity();
      at[ox] = static_cast<std::int32_t>(ybeg * w + std::max<std::int64_t>(2 * ox - 1, 0));
    }
    for (std::int64_t iy = ybeg; iy < yend; ++iy) {
      const T* e = even + iy * half_even;
      const T* o = odd + iy * half_odd;
      const std::int32_t base = static_cast<std::int32_t>(iy * w);
      // Tap 0, column 2ox-1 = odd[ox-1]: every window but the first.
#pragma omp simd
      for (std::int64_t ox = 1; ox < std::min(ow, half_odd + 1); ++ox) {
        const T v = o[ox - 1];
        const bool take = takes_over(v, best[ox]);
        best[ox] = take ? v : best[ox];
        at[ox] = take ? base + static_cast<std::int32_t>(2 * ox - 1) : at[ox];
      }
      // Tap 1, column 2ox = even[ox]: always inside (ow <= half_even).
#pragma omp simd
      for (std::int64_t ox = 0; ox < ow; ++ox) {
        const T v = e[ox];
        const bool take = takes_over(v, best[ox]);
        best[ox] = take ? v : best[ox];
        at[ox] = take ? base + static_cast<std::int32_t>(2 * ox) : at[ox];
      }
      // Tap 2, column 2ox+1 = odd[ox]: inside while 2ox+1 < w.
#pragma omp simd
      for (std::int64_t ox = 0; ox < std::min(ow, half_odd); ++ox) {
        const T v = o[ox];
        const bool take = takes_over(v, best[ox]);
        best[ox] = take ? v : best[ox];
        at[ox] = take ? base + static_cast<std::int32_t>(2 * ox + 1) : at[ox];
      }
    }
    T* y = out + oy * ow;
    std::int64_t* a = argmax + oy * ow;
    for (std::int64_t ox = 0; ox < ow; ++ox) {
      y[ox] = best[ox];
      a[ox] = at[ox];
    }
  }
}

bool is_3x3s2p1(const Pool2dGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 1 && g.pad_w == 1 &&
         g.h * g.w < (std::int64_t(1) << 31) && g.h >= 2 && g.w >= 2;
}

}  // namespace

// Windows are clipped to the image, so padding cells are never candidates (as if they held
// -inf); finalize() guarantees every window keeps at least one real cell.
template <typename T>
void max_pool2d_forward(Stream, const Pool2dGeometry& g, const T* x, T* y, std::int64_t* argmax) {
  MINIDL_CPU_PROFILE("max_pool2d_forward");
  const std::int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh * g.ow;
  // Output columns whose window lies inside the image: ox * stride_w - pad_w >= 0 and
  // ox * stride_w - pad_w + kw <= w.
  const std::int64_t lo = std::min(g.ow, (g.pad_w + g.stride_w - 1) / g.stride_w);
  const std::int64_t room = g.w + g.pad_w - g.kw;
  const std::int64_t hi = std::max(lo, room < 0 ? 0 : std::min(g.ow, room / g.stride_w + 1));
  if (is_3x3s2p1(g)) {
#pragma omp parallel if (planes * ohw * 9 >= kParallelGrain)
    {
      // This thread's scratch (thread_local slots): the plane's rows split into even and odd
      // columns, and one output row's running maxima and their indices.
      const std::int64_t n_even = g.h * ((g.w + 1) / 2), n_odd = g.h * (g.w / 2);
      T* even = detail::scratch<T>(detail::Scratch::Columns, n_even + n_odd + g.ow);
      std::int32_t* at = detail::scratch<std::int32_t>(detail::Scratch::Gemm, g.ow);
#pragma omp for schedule(static)
      for (std::int64_t p = 0; p < planes; ++p)
        max_pool_3x3s2p1_plane(g, x + p * hw, y + p * ohw, argmax + p * ohw, even, even + n_even,
                               even + n_even + n_odd, at);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (planes * ohw * g.kh * g.kw >= kParallelGrain)
  for (std::int64_t p = 0; p < planes; ++p) {
    const T* in = x + p * hw;
    for (std::int64_t oy = 0; oy < g.oh; ++oy) {
      T* out = y + p * ohw + oy * g.ow;
      std::int64_t* arg = argmax + p * ohw + oy * g.ow;
      const std::int64_t y0 = oy * g.stride_h - g.pad_h;
      const std::int64_t ybeg = std::max<std::int64_t>(y0, 0), yend = std::min(y0 + g.kh, g.h);
      interior_row_max(in, g.w, g.kw, g.stride_w, g.pad_w, ybeg, yend, lo, hi, out, arg);
      auto clipped = [&](std::int64_t ox) {
        const std::int64_t x0 = ox * g.stride_w - g.pad_w;
        window_max(in, g.w, ybeg, yend, std::max<std::int64_t>(x0, 0), std::min(x0 + g.kw, g.w), out + ox,
                   arg + ox);
      };
      for (std::int64_t ox = 0; ox < lo; ++ox) clipped(ox);
      for (std::int64_t ox = hi; ox < g.ow; ++ox) clipped(ox);
    }
  }
}

template <typename T>
void max_pool2d_backward(Stream, const Pool2dGeometry& g, const T* dy, const std::int64_t* argmax, T* dx,
                         bool accumulate) {
  MINIDL_CPU_PROFILE("max_pool2d_backward");
  const std::int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh * g.ow;
#pragma omp parallel for schedule(static) if (planes * (hw + ohw) >= kParallelGrain)
  for (std::int64_t p = 0; p < planes; ++p) {
    T* out = dx + p * hw;
    if (!accumulate) std::fill(out, out + hw, T(0));
    const T* grad = dy + p * ohw;
    const std::int64_t* arg = argmax + p * ohw;
    // Overlapping windows (stride < kernel) can pick the same cell; their gradients add.
    for (std::int64_t i = 0; i < ohw; ++i) out[arg[i]] += grad[i];
  }
}

template <typename T>
void adaptive_avg_pool2d_forward(Stream, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                 std::int64_t oh, std::int64_t ow, const T* x, T* y) {
  MINIDL_CPU_PROFILE("adaptive_avg_pool2d_forward");
  const std::int64_t planes = n * c;
#pragma omp parallel for schedule(static) if (planes * h * w >= kParallelGrain)
  for (std::int64_t p = 0; p < planes; ++p) {
    const T* in = x + p * h * w;
    T* out = y + p * oh * ow;
    for (std::int64_t oy = 0; oy < oh; ++oy) {
      const std::int64_t ybeg = window_start(oy, h, oh), yend = window_end(oy, h, oh);
      for (std::int64_t ox = 0; ox < ow; ++ox) {
        const std::int64_t xbeg = window_start(ox, w, ow), xend = window_end(ox, w, ow);
        double sum = 0.0;
        for (std::int64_t iy = ybeg; iy < yend; ++iy)
          for (std::int64_t ix = xbeg; ix < xend; ++ix) sum += static_cast<double>(in[iy * w + ix]);
        out[oy * ow + ox] = static_cast<T>(sum / static_cast<double>((yend - ybeg) * (xend - xbeg)));
      }
    }
  }
}

// Each output spreads its gradient evenly over its window; windows overlap when the sizes do
// not divide, and then a cell collects from every window that holds it.
template <typename T>
void adaptive_avg_pool2d_backward(Stream, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                  std::int64_t oh, std::int64_t ow, const T* dy, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("adaptive_avg_pool2d_backward");
  const std::int64_t planes = n * c;
#pragma omp parallel for schedule(static) if (planes * h * w >= kParallelGrain)
  for (std::int64_t p = 0; p < planes; ++p) {
    T* out = dx + p * h * w;
    if (!accumulate) std::fill(out, out + h * w, T(0));
    const T* grad = dy + p * oh * ow;
    for (std::int64_t oy = 0; oy < oh; ++oy) {
      const std::int64_t ybeg = window_start(oy, h, oh), yend = window_end(oy, h, oh);
      for (std::int64_t ox = 0; ox < ow; ++ox) {
        const std::int64_t xbeg = window_start(ox, w, ow), xend = window_end(ox, w, ow);
        const T share = grad[oy * ow + ox] / static_cast<T>((yend - ybeg) * (xend - xbeg));
        for (std::int64_t iy = ybeg; iy < yend; ++iy)
          for (std::int64_t ix = xbeg; ix < xend; ++ix) out[iy * w + ix] += share;
      }
    }
  }
}

MINIDL_INSTANTIATE_POOL(float)
MINIDL_INSTANTIATE_POOL(double)

}  // namespace minidl::kernels::cpu
