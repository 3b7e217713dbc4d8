// Max pooling (with argmax for backward) and adaptive average pooling. Both backward kernels
// gather: one thread per input element adds up the outputs whose windows cover it, in a fixed
// order, so overlapping windows (3x3 stride 2) need no atomics and results are deterministic.
#include <cmath>

#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/pool.h"

namespace minidl::kernels::cuda {

namespace {

__global__ void max_pool_forward_kernel(Pool2dGeometry g, const float* x, float* y, std::int64_t* argmax) {
  const std::int64_t total = g.n * g.c * g.oh * g.ow, opix = g.oh * g.ow;
  for (std::int64_t i = detail::grid_index(); i < total; i += detail::grid_stride()) {
    const std::int64_t plane = i / opix, o = i - plane * opix;
    const std::int64_t p = o / g.ow, q = o - p * g.ow;
    const std::int64_t h0 = p * g.stride_h - g.pad_h, w0 = q * g.stride_w - g.pad_w;
    const float* xp = x + plane * g.h * g.w;
    float best = -INFINITY;
    std::int64_t arg = -1;
    // Row-major window order; a later element wins only if strictly greater (ties go to the
    // first, as in PyTorch); a NaN always wins, so it propagates, as in the CPU twin.
    for (std::int64_t r = 0; r < g.kh; ++r) {
      const std::int64_t ih = h0 + r;
      if (ih < 0 || ih >= g.h) continue;
      for (std::int64_t s = 0; s < g.kw; ++s) {
        const std::int64_t iw = w0 + s;
        if (iw < 0 || iw >= g.w) continue;
        const float v = xp[ih * g.w + iw];
        if (arg < 0 || v > best || isnan(v)) {
          best = v;
          arg = ih * g.w + iw;
        }
      }
    }
    y[i] = best;
    if (argmax) argmax[i] = arg;
  }
}

template <bool Accumulate>
__global__ void max_pool_backward_kernel(Pool2dGeometry g, const float* dy, const std::int64_t* argmax, float* dx) {
  const std::int64_t total = g.n * g.c * g.h * g.w, ipix = g.h * g.w, opix = g.oh * g.ow;
  for (std::int64_t i = detail::grid_index(); i < total; i += detail::grid_stride()) {
    const std::int64_t plane = i / ipix, at = i - plane * ipix;
    const std::int64_t ih = at / g.w, iw = at - ih * g.w;
    // Outputs p whose window [p*stride - pad, p*stride - pad + k) holds ih.
    const std::int64_t hn = ih + g.pad_h - g.kh + 1, wn = iw + g.pad_w - g.kw + 1;
    const std::int64_t p0 = hn <= 0 ? 0 : (hn + g.stride_h - 1) / g.stride_h;
    const std::int64_t q0 = wn <= 0 ? 0 : (wn + g.stride_w - 1) / g.stride_w;
    const std::int64_t p1 = min((ih + g.pad_h) / g.stride_h, g.oh - 1);
    const std::int64_t q1 = min((iw + g.pad_w) / g.stride_w, g.ow - 1);
    const std::int64_t* ap = argmax + plane * opix;
    const float* dyp = dy + plane * opix;
    float acc = 0.f;
    for (std::int64_t p = p0; p <= p1; ++p)
      for (std::int64_t q = q0; q <= q1; ++q)
        if (ap[p * g.ow + q] == at) acc += dyp[p * g.ow + q];
    dx[i] = Accumulate ? dx[i] + acc : acc;
  }
}

// PyTorch's adaptive windows: start = floor(i*in/out), end = ceil((i+1)*in/out).
__device__ __forceinline__ std::int64_t window_start(std::int64_t i, std::int64_t in, std::int64_t out) {
  return (i * in) / out;
}
__device__ __forceinline__ std::int64_t window_end(std::int64_t i, std::int64_t in, std::int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

__global__ void adaptive_avg_pool_forward_kernel(std::int64_t planes, std::int64_t h, std::int64_t w, std::int64_t oh,
                                                 std::int64_t ow, const float* x, float* y) {
  const std::int64_t total = planes * oh * ow, opix = oh * ow;
  for (std::int64_t i = detail::grid_index(); i < total; i += detail::grid_stride()) {
    const std::int64_t plane = i / opix, o = i - plane * opix;
    const std::int64_t p = o / ow, q = o - p * ow;
    const std::int64_t hs = window_start(p, h, oh), he = window_end(p, h, oh);
    const std::int64_t ws = window_start(q, w, ow), we = window_end(q, w, ow);
    const float* xp = x + plane * h * w;
    float acc = 0.f;
    for (std::int64_t r = hs; r < he; ++r)
      for (std::int64_t s = ws; s < we; ++s) acc += xp[r * w + s];
    y[i] = acc / float((he - hs) * (we - ws));
  }
}

template <bool Accumulate>
__global__ void adaptive_avg_pool_backward_kernel(std::int64_t planes, std::int64_t h, std::int64_t w, std::int64_t oh,
                                                  std::int64_t ow, const float* dy, float* dx) {
  const std::int64_t total = planes * h * w, ipix = h * w;
  for (std::int64_t i = detail::grid_index(); i < total; i += detail::grid_stride()) {
    const std::int64_t plane = i / ipix, at = i - plane * ipix;
    const std::int64_t ih = at / w, iw = at - ih * w;
    // Candidate outputs: [floor(ih*oh/h), ceil((ih+1)*oh/h)), each checked against its window.
    const std::int64_t p0 = (ih * oh) / h, p1 = min(((ih + 1) * oh + h - 1) / h, oh);
    const std::int64_t q0 = (iw * ow) / w, q1 = min(((iw + 1) * ow + w - 1) / w, ow);
    const float* dyp = dy + plane * oh * ow;
    float acc = 0.f;
    for (std::int64_t p = p0; p < p1; ++p) {
      const std::int64_t hs = window_start(p, h, oh), he = window_end(p, h, oh);
      if (ih < hs || ih >= he) continue;
      for (std::int64_t q = q0; q < q1; ++q) {
        const std::int64_t ws = window_start(q, w, ow), we = window_end(q, w, ow);
        if (iw < ws || iw >= we) continue;
        acc += dyp[p * ow + q] / float((he - hs) * (we - ws));
      }
    }
    dx[i] = Accumulate ? dx[i] + acc : acc;
  }
}

}  // namespace

template <typename T>
void max_pool2d_forward(Stream stream, const Pool2dGeometry& g, const T* x, T* y, std::int64_t* argmax) {
  const std::int64_t total = g.n * g.c * g.oh * g.ow;
  if (total <= 0) return;
  max_pool_forward_kernel<<<grid_for(total), kBlock, 0, native(stream)>>>(g, x, y, argmax);
  CUDA_LAUNCH_CHECK("max_pool_forward_kernel");
}

template <typename T>
void max_pool2d_backward(Stream stream, const Pool2dGeometry& g, const T* dy, const std::int64_t* argmax, T* dx,
                         bool accumulate) {
  const std::int64_t total = g.n * g.c * g.h * g.w;
  if (total <= 0) return;
  if (accumulate)
    max_pool_backward_kernel<true><<<grid_for(total), kBlock, 0, native(stream)>>>(g, dy, argmax, dx);
  else
    max_pool_backward_kernel<false><<<grid_for(total), kBlock, 0, native(stream)>>>(g, dy, argmax, dx);
  CUDA_LAUNCH_CHECK("max_pool_backward_kernel");
}

template <typename T>
void adaptive_avg_pool2d_forward(Stream stream, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                 std::int64_t oh, std::int64_t ow, const T* x, T* y) {
  const std::int64_t total = n * c * oh * ow;
  if (total <= 0) return;
  adaptive_avg_pool_forward_kernel<<<grid_for(total), kBlock, 0, native(stream)>>>(n * c, h, w, oh, ow, x, y);
  CUDA_LAUNCH_CHECK("adaptive_avg_pool_forward_kernel");
}

template <typename T>
void adaptive_avg_pool2d_backward(Stream stream, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w,
                                  std::int64_t oh, std::int64_t ow, const T* dy, T* dx, bool accumulate) {
  const std::int64_t total = n * c * h * w;
  if (total <= 0) return;
  if (accumulate)
    adaptive_avg_pool_backward_kernel<true>
        <<<grid_for(total), kBlock, 0, native(stream)>>>(n * c, h, w, oh, ow, dy, dx);
  else
    adaptive_avg_pool_backward_kernel<false>
        <<<grid_for(total), kBlock, 0, native(stream)>>>(n * c, h, w, oh, ow, dy, dx);
  CUDA_LAUNCH_CHECK("adaptive_avg_pool_backward_kernel");
}

MINIDL_INSTANTIATE_POOL(float)

}  // namespace minidl::kernels::cuda
