// One tensor-core instruction: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, a warp's
// D = A B + C for a 16x16 bf16 A, a 16x8 bf16 B and a 16x8 FP32 accumulator (sm_80 and later).
//
// The operands are spread over the warp's 32 lanes as the PTX ISA lays them out ("Matrix
// Fragments for mma.m16n8k16 with floating point type"). With g = lane / 4 and t = lane % 4:
//   a[0..3]: A(g, 2t..2t+1), A(g+8, 2t..2t+1), A(g, 2t+8..2t+9), A(g+8, 2t+8..2t+9)
//   b[0..1]: B(2t..2t+1, g), B(2t+8..2t+9, g)
//   d[0..3]: D(g, 2t), D(g, 2t+1), D(g+8, 2t), D(g+8, 2t+1)
// Each 32-bit register holds two bf16, the lower k in the low 16 bits. Every lane of the warp
// must execute it.
//
// On the CUDA emulator (tools/cuda_emu) the same call is one warp collective that gathers the
// fragments by that table and multiplies them, so a kernel that fills its fragments wrongly gets
// wrong results there too; the table itself is checked against a GPU by scripts/gpu-check.sh.
#pragma once

#include <cstdint>

namespace minidl::kernels::cuda::detail {

// d += a b. Only called where the kernel was compiled for sm_80 or later
// (tensor_cores_compiled() in gemm_tile.cuh checks before launching).
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

// Two bf16 bit patterns as one register: `lo` (the lower k) in the low 16 bits.
__device__ __forceinline__ std::uint32_t pack_bf16x2(std::uint16_t lo, std::uint16_t hi) {
  return std::uint32_t(lo) | (std::uint32_t(hi) << 16);
}

}  // namespace minidl::kernels::cuda::detail
