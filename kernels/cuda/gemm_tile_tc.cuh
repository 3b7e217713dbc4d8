// The tiled GEMM of gemm_tile.cuh on tensor cores: the same 64x64 tiles of C, 16 k per step,
// loader and epilogue contracts, split-K and double buffering; only the multiply changes. Two
// operand formats (mma.cuh):
// - bf16 (Bf16Tiles), for loaders whose values are bf16 (the implicit GEMM's bf16 convolutions):
//   rounding to bf16 leaves them as they are, so the results are the FP32 kernel's on the same
//   operands up to the order of the FP32 additions;
// - tf32 (Tf32Tiles), for float32 loaders under allow_tf32 (the implicit GEMM's FP32
//   convolutions, as cuDNN's under that switch): each operand rounded to tf32 (10 explicit
//   mantissa bits) on the way into shared memory, exact products, FP32 accumulation.
//
// Shared memory holds the tiles in 32-bit words, both k-contiguous (A as [m][k], B as [n][k]),
// which is how mma.sync wants its fragments: each fragment register is one word (a bf16 pair, or
// one tf32). Rows are padded by 4 words (to 12 or 20), so the eight rows a warp's fragment load
// touches start 12 (or 20) banks apart and the 32 lanes hit 32 different banks. Each of the 8
// warps owns a 16x32 piece of the tile: per 8 words of k (16 bf16 or 8 tf32), one A fragment,
// four B fragments and four mma instructions; 16 FP32 accumulators per lane (as the FP32
// kernel's 4x4). The tensor cores add within an instruction in their own order.
#pragma once

#include <cstdint>

#include "minidl/kernels/bf16.h"
#include "minidl/kernels/cuda/gemm_tile.cuh"
#include "minidl/kernels/cuda/mma.cuh"

namespace minidl::kernels::cuda::detail {

// The operand formats: kPerWord operands of one row, consecutive in k, per 32-bit word.
struct Bf16Tiles {
  static constexpr int kPerWord = 2;
  static __device__ std::uint32_t word(const float (&v)[2]) {  // exact for bf16 values
    return pack_bf16x2(::minidl::kernels::to_bfloat16(v[0]).bits, ::minidl::kernels::to_bfloat16(v[1]).bits);
  }
  static __device__ void mma(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
    mma_bf16_16816(d, a, b);
  }
};
struct Tf32Tiles {
  static constexpr int kPerWord = 1;
  static __device__ std::uint32_t word(const float (&v)[1]) { return to_tf32(v[0]); }
  static __device__ void mma(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
    mma_tf32_1688(d, a, b);
  }
};

template <class Format, class ALoad, class BLoad, class Epilogue>
__global__ void __launch_bounds__(kTileThreads)
    gemm_tile_tc_kernel(int M, int N, int K, int k_chunk, ALoad A, BLoad B, Epilogue epi, float* partial) {
  constexpr int kPer = Format::kPerWord;
  constexpr int kWords = kTileK / kPer;                   // words per tile row
  constexpr int kRowWords = kWords + 4;                   // padded: conflict-free fragment loads
  constexpr int kItems = kTileM * kWords / kTileThreads;  // words of A (and of B) each thread loads
  static_assert(kTileM == kTileN && kTileK == 16 && kTileThreads == 256 && kWords % 8 == 0,
                "the warp layout below assumes these");
  __shared__ __align__(16) std::uint32_t As[2][kTileM][kRowWords];
  __shared__ __align__(16) std::uint32_t Bs[2][kTileN][kRowWords];

  const int tid = threadIdx.x;
  const int m0 = blockIdx.y * kTileM, n0 = blockIdx.x * kTileN;
  const int kbeg = blockIdx.z * k_chunk;
  const int kend = min(K, kbeg + k_chunk);

  std::uint32_t a_reg[kItems], b_reg[kItems];

  // Word i of this thread: its row of the tile (m or n) and its word in the row.
  auto a_pos = [&](int i, int& mm, int& kw) { tile_item<ALoad::kAlongM, kTileM, kWords>(tid, i, mm, kw); };
  auto b_pos = [&](int i, int& nn, int& kw) { tile_item<BLoad::kAlongN, kTileN, kWords>(tid, i, nn, kw); };
  auto load = [&](int k0) {
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      int mm, kw;
      a_pos(i, mm, kw);
      const int gm = m0 + mm, gk = k0 + kPer * kw;
      float v[kPer];
#pragma unroll
      for (int h = 0; h < kPer; ++h) v[h] = gm < M && gk + h < kend ? A(gm, gk + h) : 0.f;
      a_reg[i] = Format::word(v);
    }
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      int nn, kw;
      b_pos(i, nn, kw);
      const int gn = n0 + nn, gk = k0 + kPer * kw;
      float v[kPer];
#pragma unroll
      for (int h = 0; h < kPer; ++h) v[h] = gn < N && gk + h < kend ? B(gk + h, gn) : 0.f;
      b_reg[i] = Format::word(v);
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      int mm, kw;
      a_pos(i, mm, kw);
      As[buf][mm][kw] = a_reg[i];
    }
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      int nn, kw;
      b_pos(i, nn, kw);
      Bs[buf][nn][kw] = b_reg[i];
    }
  };

  // This lane's place in the mma fragments (mma.cuh): g = lane / 4, t = lane % 4.
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int wm = (warp % 4) * 16, wn = (warp / 4) * 32;  // the warp's 16x32 piece of the tile
  float acc[4][4];
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = 0.f;

  if (kbeg < kend) {
    int buf = 0;
    load(kbeg);
    store(0);
    __syncthreads();
    for (int k0 = kbeg; k0 < kend; k0 += kTileK) {
      const bool more = k0 + kTileK < kend;
      if (more) load(k0 + kTileK);  // in flight while we multiply
#pragma unroll
      for (int o = 0; o < kWords; o += 8) {  // one instruction's k: words o..o+7
        const std::uint32_t a[4] = {As[buf][wm + g][o + t], As[buf][wm + g + 8][o + t], As[buf][wm + g][o + t + 4],
                                    As[buf][wm + g + 8][o + t + 4]};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int n = wn + 8 * j + g;
          const std::uint32_t b[2] = {Bs[buf][n][o + t], Bs[buf][n][o + t + 4]};
          Format::mma(acc[j], a, b);
        }
      }
      // As in the FP32 kernel: the other buffer was last read before the previous barrier.
      if (more) store(buf ^ 1);
      __syncthreads();
      buf ^= 1;
    }
  }

#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int m = m0 + wm + g + 8 * (e >> 1), n = n0 + wn + 8 * j + 2 * t + (e & 1);
      if (m >= M || n >= N) continue;
      if (partial)
        partial[(std::int64_t(blockIdx.z) * M + m) * N + n] = acc[j][e];
      else
        epi(m, n, acc[j][e]);
    }
}

// Whether gemm_tile_tc_kernel<Format, ALoad, BLoad, Epilogue> was compiled with tensor cores for
// the current device: its PTX targets sm_80 or later (a build for older architectures only, JIT-
// compiled for a newer GPU, still runs its sm_7x code, which traps), and the device can load it.
// Asked once per instantiation; every instantiation of a build is compiled for the same
// architectures.
template <class Format, class ALoad, class BLoad, class Epilogue>
bool tensor_core_kernel_compiled() {
  static const bool compiled = [] {
    cudaFuncAttributes attr{};
    if (cudaFuncGetAttributes(&attr, gemm_tile_tc_kernel<Format, ALoad, BLoad, Epilogue>) != cudaSuccess) {
      (void)cudaGetLastError();  // no image for this device: not an error of the caller's
      return false;
    }
    return attr.ptxVersion >= 80;
  }();
  return compiled;
}

// C = A B on tensor cores in `Format` where `tensor_cores` is asked for and the kernel has them,
// else on the FP32 kernel (for bf16 values the same products; for tf32, unrounded operands).
template <class Format, class ALoad, class BLoad, class Epilogue>
void launch_gemm_tile_tc(std::int64_t M, std::int64_t N, std::int64_t K, const ALoad& a, const BLoad& b,
                         const Epilogue& epi, cudaStream_t stream, const char* what, bool tensor_cores) {
  if (!tensor_cores || !tensor_core_kernel_compiled<Format, ALoad, BLoad, Epilogue>()) {
    launch_gemm_tile(M, N, K, a, b, epi, stream, what);
    return;
  }
  if (M <= 0 || N <= 0) return;
  const TilePlan plan = plan_tiles(M, N, K, what);
  gemm_tile_tc_kernel<Format, ALoad, BLoad, Epilogue><<<plan.grid, kTileThreads, 0, stream>>>(
      static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), plan.k_chunk, a, b, epi, plan.partial);
  CUDA_LAUNCH_CHECK("gemm_tile_tc_kernel");
  finish_split_k(plan, M, N, epi, stream);
}

}  // namespace minidl::kernels::cuda::detail
