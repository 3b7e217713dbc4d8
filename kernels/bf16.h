// bf16 rounding: what the precision policy (core/precision.h) does to the operands of conv2d and
// linear. bf16 is float32's sign, exponent and top 7 mantissa bits, so a bf16 value is a float32
// whose low 16 bits are zero; rounding keeps the buffers float32 and the arithmetic after it
// FP32 (a product of two bf16 values is exact in FP32, so FP32 multiply-adds on rounded
// operands are bf16 multiplication with FP32 accumulation, bit for bit).
#pragma once

#include <cstdint>
#include <cstring>

#include "minidl/kernels/common.h"

namespace minidl::kernels {

#if defined(__CUDACC__)
#define MINIDL_HOST_DEVICE __host__ __device__
#else
#define MINIDL_HOST_DEVICE
#endif

// Round to nearest, ties to even, as PyTorch's and CUDA's float -> bf16 conversion: NaN stays
// NaN (quietened), +-inf stay, values past bf16's largest round to inf. One definition for the
// CPU kernel and the CUDA kernel, so the two round alike by construction.
MINIDL_HOST_DEVICE inline float round_to_bf16(float v) {
  std::uint32_t u;
#if defined(__CUDA_ARCH__)
  u = __float_as_uint(v);
#else
  std::memcpy(&u, &v, sizeof u);
#endif
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    u |= 0x00400000u;  // NaN: keep it a NaN whatever its payload
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);
  }
  u &= 0xffff0000u;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  std::memcpy(&v, &u, sizeof v);
  return v;
#endif
}

// Packed bf16 storage, PyTorch's torch.bfloat16 and CUDA's __nv_bfloat16 in memory: the top 16
// bits of a float32. A plain struct (no host arithmetic, no CUDA header), so kernels/ and core
// can hold bf16 buffers in any build; cuBLAS reads them as CUDA_R_16BF. Half the bytes of the
// float32 that round_to_bf16 gives, and exactly its value.
struct bfloat16 {
  std::uint16_t bits;
};

// The bf16 nearest to v (round_to_bf16's rounding, so the CPU and the GPU pack alike).
MINIDL_HOST_DEVICE inline bfloat16 to_bfloat16(float v) {
  const float r = round_to_bf16(v);
  std::uint32_t u;
#if defined(__CUDA_ARCH__)
  u = __float_as_uint(r);
#else
  std::memcpy(&u, &r, sizeof u);
#endif
  return bfloat16{static_cast<std::uint16_t>(u >> 16)};
}

// The float32 a bf16 stands for (exact).
MINIDL_HOST_DEVICE inline float to_float(bfloat16 b) {
  const std::uint32_t u = std::uint32_t(b.bits) << 16;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
#endif
}

namespace cpu {
// y[i] = round_to_bf16(x[i]); x == y is allowed.
void round_to_bf16(Stream, std::int64_t n, const float* x, float* y);
}  // namespace cpu

namespace cuda {
void round_to_bf16(Stream, std::int64_t n, const float* x, float* y);
// y[i] = to_bfloat16(x[i]): float32 to packed bf16 (half the bytes), what cuBLAS's bf16 GEMM and
// the bf16 convolution kernels read.
void to_bfloat16(Stream, std::int64_t n, const float* x, bfloat16* y);

// The same conversion into channels-last order: x is [n, c, hw] (NCHW), y is [n, hw, c] (NHWC),
// what cuDNN's bf16 convolutions read fastest (tensor cores). A weight [k, c/groups, r, s] is
// the case n = k, c = c/groups, hw = r * s ([k, r, s, c/groups], cuDNN's NHWC filter). Doing the
// transposition in the pass that packs anyway costs no extra pass over memory.
void to_bfloat16_channels_last(Stream, std::int64_t n, std::int64_t c, std::int64_t hw, const float* x, bfloat16* y);
// Its inverse, widening: out[img, ch, p] (+)= to_float(y[img, p, ch]) + bias[ch] (bias may be
// null; accumulate adds to out instead of overwriting it). Turns cuDNN's bf16 NHWC results back
// into minidl's float32 NCHW tensors, the bias of a forward convolution fused in.
void from_bfloat16_channels_last(Stream, std::int64_t n, std::int64_t c, std::int64_t hw, const bfloat16* y,
                                 const float* bias, float* out, bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
