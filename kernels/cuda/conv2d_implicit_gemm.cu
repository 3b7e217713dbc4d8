// Convolution as an implicit GEMM, the CUDA backend that runs every geometry: all three
// directions on the tiled kernel of gemm_tile.cuh, with the im2col matrix never materialised
// (each tile loader computes its element's input position), and the bias fused into the
// forward epilogue.
//
// Groups: one GEMM per group, each on the group's slices (pointers advanced to the group's first
// input channel, output channel and weight), the loaders indexing channels within the group and
// images with the full channel counts. A launch per group keeps the tile kernel (whose grid z is
// split-K) as it is; depthwise convolutions get GEMMs with one row, which works but wastes most
// of each 64-row tile (cuDNN, where present, is the fast path for them). Dilation only moves
// where a tap reads, in the loaders.
//
// bf16 (the precision policy with packed operands, kernels/bf16.h): the same kernels with loaders
// that read bfloat16 (half the bytes of float32 from global memory) and widen each element to
// float (exact) in registers before it goes to shared memory; the multiply-adds, the
// accumulation, the epilogue and the outputs stay FP32. The float32 loaders are the same code as
// before bf16 existed (read_operand() is a plain read), so FP32 results do not change.
// On GPUs with tensor cores for them (sm_80 and later) the bf16 GEMMs multiply there instead
// (gemm_tile_tc.cuh), and so do the FP32 ones in tf32 under allow_tf32() (kernels/runtime.h, as
// cuDNN's convolutions under that switch), unless set_implicit_gemm_tensor_cores(false) or
// MINIDL_CUDA_TENSOR_CORES=0. Without allow_tf32, FP32 convolutions stay FP32.
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "minidl/base/error.h"
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/cuda/conv2d_backends.h"
#include "minidl/kernels/cuda/gemm_tile.cuh"
#include "minidl/kernels/cuda/gemm_tile_tc.cuh"
#include "minidl/kernels/runtime.h"

namespace minidl::kernels::cuda::implicit_gemm {

using detail::native;

namespace {

// The geometry in 32-bit ints, so that the index arithmetic in the loaders stays cheap; the
// final addresses are formed in 64 bits.
struct Dims {
  int n, c, h, w, k, r, s, sh, sw, ph, pw, oh, ow, dh, dw;  // c and k: all channels, not per group
};

Dims dims_of(const Conv2dGeometry& g) {
  const std::int64_t v[] = {g.n,     g.c,     g.h,  g.w,  g.k,        g.r,       g.s,        g.stride_h,
                            g.stride_w, g.pad_h, g.pad_w, g.oh, g.ow, g.dilation_h, g.dilation_w, g.groups};
  for (std::int64_t x : v) MINIDL_CHECK(x >= 0 && x <= INT_MAX, "conv2d (CUDA): geometry value ", x, " out of range");
  MINIDL_CHECK(g.stride_h > 0 && g.stride_w > 0 && g.dilation_h > 0 && g.dilation_w > 0 && g.groups > 0 &&
                   g.c % g.groups == 0 && g.k % g.groups == 0,
               "conv2d (CUDA): stride, dilation and groups must be positive and groups must divide the channels");
  MINIDL_CHECK(g.n * g.oh * g.ow <= INT_MAX && g.n * g.h * g.w <= INT_MAX && g.c * g.r * g.s <= INT_MAX &&
                   g.k * g.r * g.s <= INT_MAX,
               "conv2d (CUDA): the implicit GEMM's sizes must fit in 32 bits");
  return Dims{int(g.n),        int(g.c),        int(g.h),     int(g.w),     int(g.k),  int(g.r), int(g.s),
              int(g.stride_h), int(g.stride_w), int(g.pad_h), int(g.pad_w), int(g.oh), int(g.ow),
              int(g.dilation_h), int(g.dilation_w)};
}

std::atomic<bool>& tensor_cores_setting() {
  static std::atomic<bool> on = [] {
    const char* v = std::getenv("MINIDL_CUDA_TENSOR_CORES");
    if (!v || !*v) return true;
    MINIDL_CHECK(std::strcmp(v, "0") == 0 || std::strcmp(v, "1") == 0,
                 "MINIDL_CUDA_TENSOR_CORES='", v, "': expected 0 (the implicit GEMM's bf16 and tf32 convolutions "
                 "on CUDA cores) or 1 (on tensor cores where the GPU has them, the default)");
    return v[0] == '1';
  }();
  return on;
}

// One GEMM of a convolution: bf16 operands, and float32 ones under allow_tf32, go to the
// tensor-core kernel where it can run.
template <typename E, class ALoad, class BLoad, class Epilogue>
void launch(std::int64_t M, std::int64_t N, std::int64_t K, const ALoad& a, const BLoad& b, const Epilogue& epi,
            cudaStream_t s, const char* what) {
  const bool tc = tensor_cores_setting().load();
  if constexpr (std::is_same_v<E, bfloat16>)
    detail::launch_gemm_tile_tc<detail::Bf16Tiles>(M, N, K, a, b, epi, s, what, tc);
  else if (allow_tf32())
    detail::launch_gemm_tile_tc<detail::Tf32Tiles>(M, N, K, a, b, epi, s, what, tc);
  else
    detail::launch_gemm_tile(M, N, K, a, b, epi, s, what);
}

// An operand element as float: float32 as it is, bf16 widened (exact).
__device__ __forceinline__ float read_operand(const float* p, std::int64_t i) { return p[i]; }
__device__ __forceinline__ float read_operand(const bfloat16* p, std::int64_t i) { return to_float(p[i]); }

// x as the implicit im2col matrix: element (crs, npq) is the input pixel that filter tap
// (c, r, s) sees at output position (img, p, q), or 0 in the padding. x points at the group's
// first channel, c counts within the group.
template <typename E>
__device__ __forceinline__ float im2col_at(const E* x, const Dims& d, int crs, int npq) {
  const int rs = d.r * d.s;
  const int c = crs / rs, tap = crs - c * rs;
  const int r = tap / d.s, s = tap - r * d.s;
  const int pq = d.oh * d.ow;
  const int img = npq / pq, pix = npq - img * pq;
  const int p = pix / d.ow, q = pix - p * d.ow;
  const int ih = p * d.sh - d.ph + r * d.dh, iw = q * d.sw - d.pw + s * d.dw;
  if (static_cast<unsigned>(ih) >= static_cast<unsigned>(d.h) ||
      static_cast<unsigned>(iw) >= static_cast<unsigned>(d.w))
    return 0.f;
  return read_operand(x, ((std::int64_t(img) * d.c + c) * d.h + ih) * d.w + iw);
}

// ---- forward: y[k, npq] = W[k, crs] im2col(x)[crs, npq] + bias[k] ----
// E: the operands' element type, float or bfloat16.
template <typename E>
struct FwdA {
  const E* w;
  int crs;
  static constexpr bool kAlongM = false;
  __device__ float operator()(int m, int kk) const { return read_operand(w, std::int64_t(m) * crs + kk); }
};
template <typename E>
struct FwdB {
  const E* x;
  Dims d;
  static constexpr bool kAlongN = true;
  __device__ float operator()(int kk, int n) const { return im2col_at(x, d, kk, n); }
};
struct FwdEpilogue {
  float* y;
  const float* bias;
  int k, pq;
  __device__ void operator()(int m, int npq, float acc) const {
    const int img = npq / pq, pix = npq - img * pq;
    y[(std::int64_t(img) * k + m) * pq + pix] = bias ? acc + bias[m] : acc;
  }
};

// ---- backward input: dx[c, nhw] = W^T[c, krs] dy_gathered[krs, nhw] ----
template <typename E>
struct BwdDataA {
  const E* w;
  int c, rs;  // c: input channels per group (the weight's dim 1)
  static constexpr bool kAlongM = false;
  __device__ float operator()(int m, int krs) const {
    const int k = krs / rs, tap = krs - k * rs;
    return read_operand(w, (std::int64_t(k) * c + m) * rs + tap);
  }
};
// Element (krs, nhw): the output gradient at the position where tap (r, s) of output channel k
// lands on input pixel (h, w), or 0 if no output position does (padding, or stride skips it).
template <typename E>
struct BwdDataB {
  const E* dy;
  Dims d;
  static constexpr bool kAlongN = true;
  __device__ float operator()(int krs, int nhw) const {
    const int rs = d.r * d.s;
    const int k = krs / rs, tap = krs - k * rs;
    const int r = tap / d.s, s = tap - r * d.s;
    const int hw = d.h * d.w;
    const int img = nhw / hw, pix = nhw - img * hw;
    const int ih = pix / d.w, iw = pix - ih * d.w;
    const int ph = ih + d.ph - r * d.dh, pw = iw + d.pw - s * d.dw;
    if (ph < 0 || pw < 0) return 0.f;
    const int p = ph / d.sh, q = pw / d.sw;
    if (p * d.sh != ph || q * d.sw != pw || p >= d.oh || q >= d.ow) return 0.f;
    return read_operand(dy, ((std::int64_t(img) * d.k + k) * d.oh + p) * d.ow + q);
  }
};
template <bool Accumulate>
struct BwdDataEpilogue {
  float* dx;
  int c, hw;
  __device__ void operator()(int m, int nhw, float acc) const {
    const int img = nhw / hw, pix = nhw - img * hw;
    float* p = dx + (std::int64_t(img) * c + m) * hw + pix;
    *p = Accumulate ? *p + acc : acc;
  }
};

// ---- backward weight: dW[k, crs] = dy[k, npq] im2col(x)^T[npq, crs] ----
template <typename E>
struct BwdFilterA {
  const E* dy;
  int k, pq;
  static constexpr bool kAlongM = false;
  __device__ float operator()(int m, int npq) const {
    const int img = npq / pq, pix = npq - img * pq;
    return read_operand(dy, (std::int64_t(img) * k + m) * pq + pix);
  }
};
template <typename E>
struct BwdFilterB {
  const E* x;
  Dims d;
  static constexpr bool kAlongN = false;  // consecutive npq are (mostly) adjacent pixels
  __device__ float operator()(int npq, int crs) const { return im2col_at(x, d, crs, npq); }
};
template <bool Accumulate>
struct BwdFilterEpilogue {
  float* dw;
  int crs;
  __device__ void operator()(int m, int n, float acc) const {
    float* p = dw + std::int64_t(m) * crs + n;
    *p = Accumulate ? *p + acc : acc;
  }
};

}  // namespace

// Per group grp (cg = c / groups, kg = k / groups): x, dx from channel grp cg, y, dy, bias from
// channel grp kg, the weight and its gradient from row grp kg of [k, cg r s].
// E is the operands' element type (float, or bfloat16 under the bf16 policy); bias, outputs and
// gradients are float.
template <typename E>
void forward(Stream stream, const Conv2dGeometry& g, const E* x, const E* weight, const float* bias, float* y) {
  const Dims d = dims_of(g);
  if (g.n * g.k * g.oh * g.ow == 0) return;
  const cudaStream_t s = native(stream);
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  const int cgrs = int(cg * g.r * g.s), pq = d.oh * d.ow;
  for (std::int64_t grp = 0; grp < g.groups; ++grp)
    launch<E>(kg, g.n * g.oh * g.ow, cgrs, FwdA<E>{weight + grp * kg * cgrs, cgrs},
                             FwdB<E>{x + grp * cg * g.h * g.w, d},
                             FwdEpilogue{y + grp * kg * pq, bias ? bias + grp * kg : nullptr, d.k, pq}, s,
                             "conv2d_forward (implicit GEMM)");
}

template <typename E>
void backward_data(Stream stream, const Conv2dGeometry& g, const E* dy, const E* weight, float* dx, bool accumulate) {
  const Dims d = dims_of(g);
  if (g.n * g.c * g.h * g.w == 0) return;
  const cudaStream_t s = native(stream);
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  const std::int64_t M = cg, N = g.n * g.h * g.w, K = kg * g.r * g.s;
  const int hw = d.h * d.w, pq = d.oh * d.ow, rs = d.r * d.s;
  for (std::int64_t grp = 0; grp < g.groups; ++grp) {
    const BwdDataA<E> a{weight + grp * kg * cg * rs, int(cg), rs};
    const BwdDataB<E> b{dy + grp * kg * pq, d};
    float* dxg = dx + grp * cg * hw;
    if (accumulate)
      launch<E>(M, N, K, a, b, BwdDataEpilogue<true>{dxg, d.c, hw}, s,
                               "conv2d_backward_input (implicit GEMM)");
    else
      launch<E>(M, N, K, a, b, BwdDataEpilogue<false>{dxg, d.c, hw}, s,
                               "conv2d_backward_input (implicit GEMM)");
  }
}

template <typename E>
void backward_filter(Stream stream, const Conv2dGeometry& g, const E* x, const E* dy, float* dweight,
                     bool accumulate) {
  const Dims d = dims_of(g);
  if (g.k * g.c * g.r * g.s == 0) return;
  const cudaStream_t s = native(stream);
  const std::int64_t cg = g.c_per_group(), kg = g.k_per_group();
  const int cgrs = int(cg * g.r * g.s), pq = d.oh * d.ow;
  const std::int64_t M = kg, N = cgrs, K = g.n * g.oh * g.ow;
  for (std::int64_t grp = 0; grp < g.groups; ++grp) {
    const BwdFilterA<E> a{dy + grp * kg * pq, d.k, pq};
    const BwdFilterB<E> b{x + grp * cg * g.h * g.w, d};
    float* dwg = dweight + grp * kg * cgrs;
    if (accumulate)
      launch<E>(M, N, K, a, b, BwdFilterEpilogue<true>{dwg, cgrs}, s,
                               "conv2d_backward_weight (implicit GEMM)");
    else
      launch<E>(M, N, K, a, b, BwdFilterEpilogue<false>{dwg, cgrs}, s,
                               "conv2d_backward_weight (implicit GEMM)");
  }
}

template <typename T>
ConvBackend<T> backend() {
  return {"implicit_gemm", conv_supports_every_call, forward<T>, backward_data<T>, backward_filter<T>};
}
template ConvBackend<float> backend<float>();

void set_tensor_cores(bool on) { tensor_cores_setting().store(on); }
bool tensor_cores_run() {
  return tensor_cores_setting().load() &&
         detail::tensor_core_kernel_compiled<detail::Bf16Tiles, FwdA<bfloat16>, FwdB<bfloat16>, FwdEpilogue>();
}

void forward_bf16(Stream s, const Conv2dGeometry& g, const bfloat16* x, const bfloat16* weight, const float* bias,
                  float* y) {
  forward<bfloat16>(s, g, x, weight, bias, y);
}
void backward_data_bf16(Stream s, const Conv2dGeometry& g, const bfloat16* dy, const bfloat16* weight, float* dx,
                        bool accumulate) {
  backward_data<bfloat16>(s, g, dy, weight, dx, accumulate);
}
void backward_filter_bf16(Stream s, const Conv2dGeometry& g, const bfloat16* x, const bfloat16* dy, float* dweight,
                          bool accumulate) {
  backward_filter<bfloat16>(s, g, x, dy, dweight, accumulate);
}

}  // namespace minidl::kernels::cuda::implicit_gemm
