// Convolution as im2col + GEMM, the CPU backend that runs every geometry (and float64 always).
//
// im2col + GEMM: GEMM over unrolled patches, with OpenBLAS doing the arithmetic. The batch is
// cut into chunks of nb images, and a chunk is unrolled into one column matrix
//   col[c*r*s, nb*oh*ow]   row = (channel, kernel row, kernel column), column = (image, oy, ox)
// so that one GEMM covers the whole chunk. With groups, the rows of group grp are the
// contiguous block [grp cg r s, (grp+1) cg r s) (cg = c / groups), and so are its output
// channels in W, y and dy: a chunk runs one GEMM per group on those slices. Dilation only moves
// where a tap reads (im2col and col2im); the GEMMs do not see it.
//
// Why chunks of several images: ResNet's late stages have tiny maps (4x4, 2x2 at 64x64 input);
// a GEMM per image there has 16 or 4 columns, a matrix-vector product that streams the whole
// weight matrix from memory once per image. Gathering about kTargetColumns columns per GEMM
// reads the weights once per chunk instead. Why not the whole batch at once: the column matrix
// of a chunk stays in a core's cache, and there are enough chunks to share between threads.
//
// Threading: chunks are independent, so each thread takes whole chunks (unroll, GEMM, write
// back) with its own scratch. Inside an OpenMP region OpenBLAS runs single-threaded, so the two
// never oversubscribe the cores. Only when the batch is a single chunk (one image, say) does the
// GEMM run outside any region, where OpenBLAS threads it itself.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "minidl/kernels/cpu/conv2d_backends.h"
#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/linear.h"

namespace minidl::kernels::cpu::im2col {

namespace {

using detail::kParallelGrain;
using detail::Scratch;
using detail::scratch;

// Columns per GEMM to gather before adding images stops paying. Measured over the 20 convs of
// ResNet-18 at 64x64 input, batch 64, one thread: 256 to 1024 are within 3% of each other,
// 128 and 2048 are 5 to 10% slower (too thin a GEMM; a column matrix outgrowing the cache).
constexpr std::int64_t kTargetColumns = 512;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

struct Chunks {
  std::int64_t images;  // per chunk; the last one may have fewer
  std::int64_t count;
};

Chunks chunks_of(const Conv2dGeometry& g) {
  const std::int64_t threads = omp_get_max_threads();
  // Enough images for kTargetColumns columns, but no fewer chunks than threads.
  const std::int64_t images =
      std::max<std::int64_t>(1, std::min(ceil_div(kTargetColumns, g.oh * g.ow), ceil_div(g.n, threads)));
  return {images, ceil_div(g.n, images)};
}

// body(chunk index, first image, images in the chunk) for every chunk, spread over threads.
template <typename Body>
void for_each_chunk(const Conv2dGeometry& g, const Chunks& chunks, const Body& body) {
  auto run = [&](std::int64_t i) {
    const std::int64_t b0 = i * chunks.images;
    body(i, b0, std::min(chunks.images, g.n - b0));
  };
  if (chunks.count == 1)
    run(0);  // one GEMM, threaded by OpenBLAS
  else
    detail::parallel_for_each(chunks.count, run);
}

// A 1x1 stride-1 unpadded convolution's column matrix for one image is the image itself.
bool is_pointwise(const Conv2dGeometry& g) {
  return g.r == 1 && g.s == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// For kernel column s, the output columns ox whose input column ox*stride_w - pad_w + s*dilation_w
// lies inside the image: [begin, end). Outside it the patch reads padding.
struct ValidRange {
  std::int64_t begin, end;
};
ValidRange valid_columns(const Conv2dGeometry& g, std::int64_t s) {
  const std::int64_t tap = s * g.dilation_w;
  const std::int64_t lo = g.pad_w - tap;            // ox * stride_w >= lo
  const std::int64_t hi = g.w - 1 + g.pad_w - tap;  // ox * stride_w <= hi
  std::int64_t end = hi < 0 ? 0 : std::min(g.ow, hi / g.stride_w + 1);
  const std::int64_t begin = lo <= 0 ? 0 : std::min(g.ow, ceil_div(lo, g.stride_w));
  end = std::max(end, begin);
  return {begin, end};
}

// Unrolls images x[0 .. nb) into col[c*r*s, nb*oh*ow].
template <typename T>
void im2col(const Conv2dGeometry& g, const T* x, std::int64_t nb, T* col) {
  const std::int64_t ohw = g.oh * g.ow, hw = g.h * g.w;
  const std::int64_t rows = g.c * g.r * g.s, cols = nb * ohw;
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int64_t c = row / (g.r * g.s), r = row / g.s % g.r, s = row % g.s;
    const ValidRange v = valid_columns(g, s);
    const std::int64_t shift = s * g.dilation_w - g.pad_w;  // input column of ox is ox*stride_w + shift
    for (std::int64_t b = 0; b < nb; ++b) {
      const T* plane = x + (b * g.c + c) * hw;
      T* out = col + row * cols + b * ohw;
      for (std::int64_t oy = 0; oy < g.oh; ++oy, out += g.ow) {
        const std::int64_t iy = oy * g.stride_h - g.pad_h + r * g.dilation_h;
        if (iy < 0 || iy >= g.h || v.begin == v.end) {
          std::fill(out, out + g.ow, T(0));
          continue;
        }
        const T* in = plane + iy * g.w;
        std::fill(out, out + v.begin, T(0));
        if (g.stride_w == 1) {
          std::copy(in + v.begin + shift, in + v.end + shift, out + v.begin);
        } else {
          for (std::int64_t ox = v.begin; ox < v.end; ++ox) out[ox] = in[ox * g.stride_w + shift];
        }
        std::fill(out + v.end, out + g.ow, T(0));
      }
    }
  }
}

// The adjoint of im2col: adds col[c*r*s, nb*oh*ow] back onto images dx[0 .. nb), overwriting
// them first unless accumulating (the zeros are ours, the caller's memory is never read).
template <typename T>
void col2im(const Conv2dGeometry& g, const T* col, std::int64_t nb, T* dx, bool accumulate) {
  const std::int64_t ohw = g.oh * g.ow, hw = g.h * g.w, cols = nb * ohw;
  if (!accumulate) std::fill(dx, dx + nb * g.c * hw, T(0));
  for (std::int64_t b = 0; b < nb; ++b) {
    for (std::int64_t c = 0; c < g.c; ++c) {
      T* plane = dx + (b * g.c + c) * hw;
      for (std::int64_t r = 0; r < g.r; ++r) {
        for (std::int64_t s = 0; s < g.s; ++s) {
          const ValidRange v = valid_columns(g, s);
          const std::int64_t shift = s * g.dilation_w - g.pad_w;
          const T* in = col + ((c * g.r + r) * g.s + s) * cols + b * ohw;
          for (std::int64_t oy = 0; oy < g.oh; ++oy, in += g.ow) {
            const std::int64_t iy = oy * g.stride_h - g.pad_h + r * g.dilation_h;
            if (iy < 0 || iy >= g.h) continue;
            T* out = plane + iy * g.w;
            if (g.stride_w == 1) {
#pragma omp simd
              for (std::int64_t ox = v.begin; ox < v.end; ++ox) out[ox + shift] += in[ox];
            } else {
              for (std::int64_t ox = v.begin; ox < v.end; ++ox) out[ox * g.stride_w + shift] += in[ox];
            }
          }
        }
      }
    }
  }
}

// The column matrix of images x[0 .. nb): the images themselves when that is already its
// layout, else unrolled into this thread's scratch.
template <typename T>
const T* columns_of(const Conv2dGeometry& g, const T* x, std::int64_t nb) {
  if (nb == 1 && is_pointwise(g)) return x;
  T* col = scratch<T>(Scratch::Columns, g.c * g.r * g.s * nb * g.oh * g.ow);
  im2col(g, x, nb, col);
  return col;
}

// dy of images [0, nb) as a [k, nb*ohw] matrix: dy itself for one image, else its [nb][k][ohw]
// layout regrouped into this thread's scratch.
template <typename T>
const T* dy_matrix(const Conv2dGeometry& g, const T* dy, std::int64_t nb) {
  if (nb == 1) return dy;
  const std::int64_t ohw = g.oh * g.ow;
  T* out = scratch<T>(Scratch::Gemm, g.k * nb * ohw);
  for (std::int64_t k = 0; k < g.k; ++k)
    for (std::int64_t b = 0; b < nb; ++b)
      std::memcpy(out + (k * nb + b) * ohw, dy + (b * g.k + k) * ohw, sizeof(T) * ohw);
  return out;
}

// One GEMM per group, C_grp = op(A_grp) op(B_grp) (+ beta C_grp). An operand's group slices
// are `step` elements apart, rows `ld` apart: the slices of W, the column matrix, y and dy are
// contiguous blocks of rows (see the top of the file).
struct Slices {
  std::int64_t ld, step;
};
template <typename T>
void gemm_per_group(const Conv2dGeometry& g, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n,
                    std::int64_t k, const T* a, Slices as, const T* b, Slices bs, T beta, T* c, Slices cs) {
  for (std::int64_t grp = 0; grp < g.groups; ++grp)
    gemm<T>(Stream{}, trans_a, trans_b, m, n, k, T(1), a + grp * as.step, as.ld, b + grp * bs.step, bs.ld, beta,
            c + grp * cs.step, cs.ld);
}

}  // namespace

// y[k, cols] = W[k, crs] col[crs, cols] (+ bias), per chunk; per group, y's kg rows of the group
// from W's kg rows and col's cgrs rows of the group (kg = k / groups, cgrs = c r s / groups).
template <typename T>
void forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y) {
  const std::int64_t ohw = g.oh * g.ow, kg = g.k_per_group(), cgrs = g.c_per_group() * g.r * g.s;
  for_each_chunk(g, chunks_of(g), [&](std::int64_t, std::int64_t b0, std::int64_t nb) {
    const std::int64_t cols = nb * ohw;
    const T* col = columns_of(g, x + b0 * g.c * g.h * g.w, nb);
    T* yb = y + b0 * g.k * ohw;
    if (nb == 1) {
      // The GEMM's [k, ohw] result is already y's layout: the bias goes in first and the
      // GEMM adds onto it.
      if (bias)
        for (std::int64_t k = 0; k < g.k; ++k) std::fill(yb + k * ohw, yb + (k + 1) * ohw, bias[k]);
      gemm_per_group<T>(g, false, false, kg, ohw, cgrs, weight, {cgrs, kg * cgrs}, col, {ohw, cgrs * ohw},
                        bias ? T(1) : T(0), yb, {ohw, kg * ohw});
      return;
    }
    // [k][nb*ohw] -> y's [nb][k][ohw], adding the bias on the way.
    T* out = scratch<T>(Scratch::Gemm, g.k * cols);
    gemm_per_group<T>(g, false, false, kg, cols, cgrs, weight, {cgrs, kg * cgrs}, col, {cols, cgrs * cols}, T(0), out,
                      {cols, kg * cols});
    for (std::int64_t k = 0; k < g.k; ++k) {
      const T add = bias ? bias[k] : T(0);
      for (std::int64_t b = 0; b < nb; ++b) {
        const T* src = out + (k * nb + b) * ohw;
        T* dst = yb + (b * g.k + k) * ohw;
#pragma omp simd
        for (std::int64_t j = 0; j < ohw; ++j) dst[j] = src[j] + add;
      }
    }
  });
}

// dcol[crs, cols] = W^T[crs, k] dy[k, cols] (per group), folded back onto dx by col2im. Chunks
// write disjoint images of dx.
template <typename T>
void backward_data(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate) {
  const std::int64_t crs = g.c * g.r * g.s, ohw = g.oh * g.ow, kg = g.k_per_group(),
                     cgrs = g.c_per_group() * g.r * g.s;
  for_each_chunk(g, chunks_of(g), [&](std::int64_t, std::int64_t b0, std::int64_t nb) {
    const std::int64_t cols = nb * ohw;
    const T* dyc = dy_matrix(g, dy + b0 * g.k * ohw, nb);
    T* dxb = dx + b0 * g.c * g.h * g.w;
    if (nb == 1 && is_pointwise(g)) {  // dcol is dx itself
      gemm_per_group<T>(g, true, false, cgrs, cols, kg, weight, {cgrs, kg * cgrs}, dyc, {cols, kg * cols},
                        accumulate ? T(1) : T(0), dxb, {cols, cgrs * cols});
      return;
    }
    T* dcol = scratch<T>(Scratch::Columns, crs * cols);
    gemm_per_group<T>(g, true, false, cgrs, cols, kg, weight, {cgrs, kg * cgrs}, dyc, {cols, kg * cols}, T(0), dcol,
                      {cols, cgrs * cols});
    col2im(g, dcol, nb, dxb, accumulate);
  });
}

// dW[k, cgrs] = sum over chunks of dy[k, cols] col^T[cols, cgrs] (per group: the group's kg rows
// of dy with its cgrs rows of col). Every chunk but a lone one writes its own partial dW, and the
// partials are then added in chunk order: the result does not depend on which thread ran which
// chunk, so training stays bit-reproducible.
template <typename T>
void backward_filter(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate) {
  const std::int64_t ohw = g.oh * g.ow, kg = g.k_per_group(), cgrs = g.c_per_group() * g.r * g.s,
                     size = g.k * cgrs;
  const Chunks chunks = chunks_of(g);
  // Taken on the calling thread, before the workers start: all of them write into it.
  T* partials = chunks.count == 1 ? nullptr : scratch<T>(Scratch::Partial, chunks.count * size);
  for_each_chunk(g, chunks, [&](std::int64_t i, std::int64_t b0, std::int64_t nb) {
    const std::int64_t cols = nb * ohw;
    const T* col = columns_of(g, x + b0 * g.c * g.h * g.w, nb);
    const T* dyc = dy_matrix(g, dy + b0 * g.k * ohw, nb);
    T* dst = partials ? partials + i * size : dweight;
    gemm_per_group<T>(g, false, true, kg, cgrs, cols, dyc, {cols, kg * cols}, col, {cols, cgrs * cols},
                      !partials && accumulate ? T(1) : T(0), dst, {cgrs, kg * cgrs});
  });
  if (!partials) return;
#pragma omp parallel for simd schedule(static) if (chunks.count * size >= kParallelGrain)
  for (std::int64_t j = 0; j < size; ++j) {
    T acc = accumulate ? dweight[j] : T(0);
    for (std::int64_t i = 0; i < chunks.count; ++i) acc += partials[i * size + j];
    dweight[j] = acc;
  }
}

template <typename T>
ConvBackend<T> backend() {
  return {"im2col", conv_supports_every_call, forward<T>, backward_data<T>, backward_filter<T>};
}
template ConvBackend<float> backend<float>();
template ConvBackend<double> backend<double>();

}  // namespace minidl::kernels::cpu::im2col
