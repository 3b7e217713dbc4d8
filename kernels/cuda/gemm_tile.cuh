// Our tiled SGEMM core, shared by sgemm_tiled and the implicit-GEMM convolutions.
//
// C[M,N] = A[M,K] B[K,N], where A and B are not matrices in memory but loaders: functors that
// return the element at (m, k) or (k, n). A plain matrix, a transposed one, and the
// implicit im2col view of an image batch are all loaders, so one kernel serves the GEMM and all
// three convolution directions. The result goes through an epilogue functor (alpha/beta, bias,
// accumulate), never through a fixed store.
//
// Tiling: a 256-thread block computes a 64x64 tile of C, walking K in steps of 16; each thread
// holds a 4x4 block of C in registers (register blocking), reading 4 values of A and 4 of B
// from shared memory per step with 16-byte loads. Shared memory is double-buffered, and the
// next tile is fetched from global memory into registers while the current one is multiplied.
// Out-of-range rows, columns and k read 0, so any M, N, K works.
//
// Split-K: when the M x N tiles alone cannot fill the GPU (the backward-weight convolutions,
// with a tiny output and a reduction over batch x pixels), K is cut into chunks, each chunk
// writes its partial tile to a workspace, and a second kernel adds the partials in a fixed
// order and applies the epilogue. No atomics, so results are deterministic.
//
// gemm_tile_tc.cuh runs the same tiles on bf16 tensor cores, for loaders whose values are bf16.
#pragma once

#include <climits>
#include <cstdint>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/context.h"
#include "minidl/kernels/cuda/launch.cuh"

namespace minidl::kernels::cuda::detail {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kMicroM = 4, kMicroN = 4, kTileThreads = 256;
constexpr int kTilePad = 4;  // keeps rows 16-byte aligned and halves store bank conflicts

// Where item i of a thread's share of a tile goes: its row (m of A, n of B) and its depth (the k
// index, or the pair of k indices in gemm_tile_tc.cuh), for a tile of Rows x Depth items loaded
// by kTileThreads threads. Threads of a warp walk the rows when AlongRows (consecutive rows are
// adjacent in global memory), else the depth.
template <bool AlongRows, int Rows, int Depth>
__device__ __forceinline__ void tile_item(int tid, int i, int& row, int& depth) {
  const int idx = tid + i * kTileThreads;
  if (AlongRows) {
    row = idx % Rows;
    depth = idx / Rows;
  } else {
    depth = idx % Depth;
    row = idx / Depth;
  }
}

// Loader contract:
//   A: __device__ float operator()(int m, int k) const;  static constexpr bool kAlongM
//      (true if consecutive m are adjacent in memory, so threads of a warp should walk m)
//   B: __device__ float operator()(int k, int n) const;  static constexpr bool kAlongN
// Epilogue: __device__ void operator()(int m, int n, float acc) const.
template <class ALoad, class BLoad, class Epilogue>
__global__ void __launch_bounds__(kTileThreads)
    gemm_tile_kernel(int M, int N, int K, int k_chunk, ALoad A, BLoad B, Epilogue epi, float* partial) {
  constexpr int kPer = kTileM * kTileK / kTileThreads;  // elements of A (and of B) each thread loads
  static_assert(kTileM * kTileK == kTileN * kTileK, "A and B tiles must be the same size");
  __shared__ __align__(16) float As[2][kTileK][kTileM + kTilePad];
  __shared__ __align__(16) float Bs[2][kTileK][kTileN + kTilePad];

  const int tid = threadIdx.x;
  const int m0 = blockIdx.y * kTileM, n0 = blockIdx.x * kTileN;
  const int kbeg = blockIdx.z * k_chunk;
  const int kend = min(K, kbeg + k_chunk);

  float a_reg[kPer], b_reg[kPer];

  auto a_pos = [&](int i, int& mm, int& kk) { tile_item<ALoad::kAlongM, kTileM, kTileK>(tid, i, mm, kk); };
  auto b_pos = [&](int i, int& kk, int& nn) { tile_item<BLoad::kAlongN, kTileN, kTileK>(tid, i, nn, kk); };
  auto load = [&](int k0) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      int mm, kk;
      a_pos(i, mm, kk);
      const int gm = m0 + mm, gk = k0 + kk;
      a_reg[i] = (gm < M && gk < kend) ? A(gm, gk) : 0.f;
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      int kk, nn;
      b_pos(i, kk, nn);
      const int gn = n0 + nn, gk = k0 + kk;
      b_reg[i] = (gn < N && gk < kend) ? B(gk, gn) : 0.f;
    }
  };
  auto store = [&](int buf) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      int mm, kk;
      a_pos(i, mm, kk);
      As[buf][kk][mm] = a_reg[i];
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      int kk, nn;
      b_pos(i, kk, nn);
      Bs[buf][kk][nn] = b_reg[i];
    }
  };

  const int tx = tid % (kTileN / kMicroN), ty = tid / (kTileN / kMicroN);
  float acc[kMicroM][kMicroN];
#pragma unroll
  for (int i = 0; i < kMicroM; ++i)
#pragma unroll
    for (int j = 0; j < kMicroN; ++j) acc[i][j] = 0.f;

  if (kbeg < kend) {
    int buf = 0;
    load(kbeg);
    store(0);
    __syncthreads();
    for (int k0 = kbeg; k0 < kend; k0 += kTileK) {
      const bool more = k0 + kTileK < kend;
      if (more) load(k0 + kTileK);  // in flight while we multiply
#pragma unroll
      for (int kk = 0; kk < kTileK; ++kk) {
        const float4 a4 = *reinterpret_cast<const float4*>(&As[buf][kk][ty * kMicroM]);
        const float4 b4 = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * kMicroN]);
        const float av[kMicroM] = {a4.x, a4.y, a4.z, a4.w};
        const float bv[kMicroN] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
        for (int i = 0; i < kMicroM; ++i)
#pragma unroll
          for (int j = 0; j < kMicroN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
      }
      // The other buffer was last read in the previous iteration, before the barrier below
      // that ended it, so it can be overwritten now.
      if (more) store(buf ^ 1);
      __syncthreads();
      buf ^= 1;
    }
  }

#pragma unroll
  for (int i = 0; i < kMicroM; ++i) {
    const int m = m0 + ty * kMicroM + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < kMicroN; ++j) {
      const int n = n0 + tx * kMicroN + j;
      if (n >= N) continue;
      if (partial)
        partial[(std::int64_t(blockIdx.z) * M + m) * N + n] = acc[i][j];
      else
        epi(m, n, acc[i][j]);
    }
  }
}

template <class Epilogue>
__global__ void splitk_reduce_kernel(int M, int N, int splits, const float* partial, Epilogue epi) {
  const std::int64_t total = std::int64_t(M) * N;
  for (std::int64_t i = grid_index(); i < total; i += grid_stride()) {
    float acc = 0.f;
    for (int z = 0; z < splits; ++z) acc += partial[z * total + i];
    epi(static_cast<int>(i / N), static_cast<int>(i % N), acc);
  }
}

// How a GEMM is cut into blocks: the grid (tiles of C, and K chunks in z) and, when K is split,
// the workspace for the partial tiles.
struct TilePlan {
  dim3 grid;
  int k_chunk = 0;
  int splits = 1;
  float* partial = nullptr;  // splits x M x N floats in the context's workspace, or null
};

// Splits K when the M x N tiles alone cannot fill the GPU.
inline TilePlan plan_tiles(std::int64_t M, std::int64_t N, std::int64_t K, const char* what) {
  MINIDL_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && M * N <= INT_MAX, what, ": GEMM of ", M, "x", N, "x", K,
               " is too large for the tiled kernel (sizes and M*N must fit in 32 bits)");
  const std::int64_t tiles_m = (M + kTileM - 1) / kTileM, tiles_n = (N + kTileN - 1) / kTileN;
  MINIDL_CHECK(tiles_m <= 65535, what, ": GEMM with M = ", M, " rows exceeds the tiled kernel's grid (", 65535 * kTileM,
               " rows)");
  Context& ctx = context();
  const std::int64_t tiles = tiles_m * tiles_n;
  const std::int64_t target = 2 * std::int64_t(ctx.sm_count());
  std::int64_t splits = 1;
  if (tiles < target && K >= 8 * kTileK) {
    splits = (target + tiles - 1) / tiles;
    const std::int64_t max_splits = K / (4 * kTileK);  // keep at least 64 k per chunk
    if (splits > max_splits) splits = max_splits;
    if (splits < 1) splits = 1;
  }
  std::int64_t k_chunk = (K + splits - 1) / splits;
  k_chunk = (k_chunk + kTileK - 1) / kTileK * kTileK;
  if (k_chunk < kTileK) k_chunk = kTileK;
  splits = K > 0 ? (K + k_chunk - 1) / k_chunk : 1;

  TilePlan plan;
  plan.grid = dim3(static_cast<unsigned>(tiles_n), static_cast<unsigned>(tiles_m), static_cast<unsigned>(splits));
  plan.k_chunk = static_cast<int>(k_chunk);
  plan.splits = static_cast<int>(splits);
  if (splits > 1) plan.partial = static_cast<float*>(ctx.workspace(sizeof(float) * splits * M * N));
  return plan;
}

// With K split: adds the partial tiles in a fixed order and applies the epilogue.
template <class Epilogue>
void finish_split_k(const TilePlan& plan, std::int64_t M, std::int64_t N, const Epilogue& epi, cudaStream_t stream) {
  if (plan.splits <= 1) return;
  splitk_reduce_kernel<Epilogue><<<grid_for(M * N), kBlock, 0, stream>>>(static_cast<int>(M), static_cast<int>(N),
                                                                         plan.splits, plan.partial, epi);
  CUDA_LAUNCH_CHECK("splitk_reduce_kernel");
}

// Runs C = A B through the epilogue on `stream`, splitting K when the tiles are too few.
template <class ALoad, class BLoad, class Epilogue>
void launch_gemm_tile(std::int64_t M, std::int64_t N, std::int64_t K, const ALoad& a, const BLoad& b,
                      const Epilogue& epi, cudaStream_t stream, const char* what) {
  if (M <= 0 || N <= 0) return;
  const TilePlan plan = plan_tiles(M, N, K, what);
  gemm_tile_kernel<ALoad, BLoad, Epilogue><<<plan.grid, kTileThreads, 0, stream>>>(
      static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), plan.k_chunk, a, b, epi, plan.partial);
  CUDA_LAUNCH_CHECK("gemm_tile_kernel");
  finish_split_k(plan, M, N, epi, stream);
}

}  // namespace minidl::kernels::cuda::detail
