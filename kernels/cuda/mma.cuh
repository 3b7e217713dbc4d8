// The tensor-core instructions minidl issues (sm_80 and later): mma.sync m16n8k16 with bf16
// operands, and m16n8k8 with tf32 operands (below), a warp's D = A B + C with an FP32 accumulator.
//
// bf16: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, a 16x16 A and a 16x8 B.
//
// The operands are spread over the warp's 32 lanes as the PTX ISA lays them out ("Matrix
// Fragments for mma.m16n8k16 with floating point type"). With g = lane / 4 and t = lane % 4:
//   a[0..3]: A(g, 2t..2t+1), A(g+8, 2t..2t+1), A(g, 2t+8..2t+9), A(g+8, 2t+8..2t+9)
//   b[0..1]: B(2t..2t+1, g), B(2t+8..2t+9, g)
//   d[0..3]: D(g, 2t), D(g, 2t+1), D(g+8, 2t), D(g+8, 2t+1)
// Each 32-bit register holds two bf16, the lower k in the low 16 bits. Every lane of the warp
// must execute it.
//
// The tables are the PTX ISA's (9.1, section 9.7.14.5.7 and 9.7.14.5.8), checked against its
// text. On the CUDA emulator (tools/cuda_emu) each call is one warp collective that gathers the
// fragments by those tables and multiplies them, so a kernel that fills its fragments wrongly gets
// wrong results there too; only a GPU run (scripts/gpu-check.sh) checks the hardware against them.
#pragma once

#include <cstdint>
#include <cstring>

namespace minidl::kernels::cuda::detail {

// d += a b. Only called where the kernel was compiled for sm_80 or later
// (tensor_core_kernel_compiled() in gemm_tile_tc.cuh checks before launching).
__device__ __forceinline__ void mma_bf16_16816(float (&d)[4], const std::uint32_t (&a)[4],
                                               const std::uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(__CUDA_ARCH__)
  __trap();  // no bf16 tensor cores before sm_80; never launched there
#elif defined(CUDA_EMU_DEVICE)
  ::emu::mma_bf16_m16n8k16(d, a, b);
#endif
}

// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32: D = A B + C for a 16x8 tf32 A, an 8x8 tf32
// B and the same 16x8 FP32 accumulator, one element per register (PTX ISA, "Matrix Fragments for
// mma.m16n8k8", .tf32):
//   a[0..3]: A(g, t), A(g+8, t), A(g, t+4), A(g+8, t+4)
//   b[0..1]: B(t, g), B(t+4, g)
//   d[0..3]: as above
// A tf32 operand is a float32 bit pattern whose low 13 bits the instruction ignores; to_tf32()
// rounds them away first. d += a b, under the same conditions as mma_bf16_16816.
__device__ __forceinline__ void mma_tf32_1688(float (&d)[4], const std::uint32_t (&a)[4],
                                              const std::uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(__CUDA_ARCH__)
  __trap();
#elif defined(CUDA_EMU_DEVICE)
  ::emu::mma_tf32_m16n8k8(d, a, b);
#endif
}

// v rounded to tf32 (10 explicit mantissa bits), to nearest with ties away from zero, as
// cvt.rna.tf32.f32 and cuBLAS's and cuDNN's TF32 modes round; NaN and infinities stay.
__device__ __forceinline__ std::uint32_t to_tf32(float v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  std::uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(v));
  return r;
#else
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  if ((u & 0x7f800000u) != 0x7f800000u) u += 0x1000u;  // half of the dropped 13 bits, on the magnitude
  return u & 0xffffe000u;
#endif
}

// Two bf16 bit patterns as one register: `lo` (the lower k) in the low 16 bits.
__device__ __forceinline__ std::uint32_t pack_bf16x2(std::uint16_t lo, std::uint16_t hi) {
  return std::uint32_t(lo) | (std::uint32_t(hi) << 16);
}

}  // namespace minidl::kernels::cuda::detail
