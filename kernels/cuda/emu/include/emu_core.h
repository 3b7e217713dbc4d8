// CPU emulation of CUDA's execution model: each CUDA thread of a block is a ucontext coroutine;
// __syncthreads is a block barrier, warp shuffles and __syncwarp are warp barriers. Blocks run
// one after another (so __shared__ can be a static). Detects barrier divergence (deadlock).
#pragma once
#include <ucontext.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct uint3 { unsigned x, y, z; };
struct float4 { float x, y, z, w; };

namespace emu {
inline int device_count = 1;
inline int sm_count = 4;  // small, so split-K triggers on modest shapes
inline std::size_t bytes_in_use = std::size_t(1) << 30;  // a context's worth

enum State { READY, AT_BARRIER, AT_WARP, DONE };
struct Thread {
  ucontext_t ctx;
  std::vector<char> stack;
  State state = READY;
  uint3 tid;
  int linear = 0;
  unsigned long long slot = 0, result = 0;
  int partner = -1;  // lane to read from at the warp exchange (-1: plain __syncwarp)
};
inline std::vector<Thread> threads;
inline ucontext_t scheduler_ctx;
inline Thread* current = nullptr;
inline uint3 block_idx;
inline dim3 block_dim, grid_dim;
inline std::function<void()> body;
inline long long switches = 0;

inline void yield_to_scheduler() {
  ++switches;
  swapcontext(&current->ctx, &scheduler_ctx);
}
inline void trampoline() {
  body();
  current->state = DONE;
  swapcontext(&current->ctx, &scheduler_ctx);
}

inline void run_block(int nthreads) {
  if ((int)threads.size() < nthreads) threads.resize(nthreads);
  for (int t = 0; t < nthreads; ++t) {
    Thread& th = threads[t];
    if (th.stack.empty()) th.stack.resize(256 * 1024);
    th.state = READY;
    th.linear = t;
    th.tid = uint3{unsigned(t % block_dim.x), unsigned((t / block_dim.x) % block_dim.y),
                   unsigned(t / (block_dim.x * block_dim.y))};
    getcontext(&th.ctx);
    th.ctx.uc_stack.ss_sp = th.stack.data();
    th.ctx.uc_stack.ss_size = th.stack.size();
    th.ctx.uc_link = nullptr;
    makecontext(&th.ctx, trampoline, 0);
  }
  const int warps = (nthreads + 31) / 32;
  for (;;) {
    bool progress = false, all_done = true;
    for (int t = 0; t < nthreads; ++t) {
      if (threads[t].state != DONE) all_done = false;
      if (threads[t].state == READY) {
        current = &threads[t];
        swapcontext(&scheduler_ctx, &threads[t].ctx);
        progress = true;
      }
    }
    if (all_done) break;
    if (progress) continue;
    // Block barrier: every live thread waits there.
    int live = 0, at_barrier = 0;
    for (int t = 0; t < nthreads; ++t) {
      if (threads[t].state != DONE) ++live;
      if (threads[t].state == AT_BARRIER) ++at_barrier;
    }
    if (live > 0 && at_barrier == live) {
      for (int t = 0; t < nthreads; ++t)
        if (threads[t].state == AT_BARRIER) threads[t].state = READY;
      continue;
    }
    // Warp exchanges: all 32 lanes (that exist) wait at one.
    for (int w = 0; w < warps; ++w) {
      const int lo = w * 32, hi = std::min(nthreads, lo + 32);
      bool all = true;
      for (int t = lo; t < hi; ++t) all = all && threads[t].state == AT_WARP;
      if (!all) continue;
      for (int t = lo; t < hi; ++t) {
        const int p = threads[t].partner;
        threads[t].result = p >= 0 && lo + p < hi ? threads[lo + p].slot : threads[t].slot;
      }
      for (int t = lo; t < hi; ++t) threads[t].state = READY;
      progress = true;
    }
    if (!progress) {
      std::fprintf(stderr, "EMU DEADLOCK in block (%u,%u,%u): threads wait at different barriers\n", block_idx.x,
                   block_idx.y, block_idx.z);
      for (int t = 0; t < nthreads; ++t) std::fprintf(stderr, "  thread %d state %d\n", t, threads[t].state);
      std::abort();
    }
  }
}

template <typename... KArgs, typename... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t, void*, Args&&... args) {
  std::tuple<std::decay_t<KArgs>...> params(std::forward<Args>(args)...);
  const int nthreads = int(block.x * block.y * block.z);
  if (nthreads > 1024 || nthreads < 1 || grid.y > 65535 || grid.z > 65535) {
    std::fprintf(stderr, "EMU bad launch config grid(%u,%u,%u) block(%u,%u,%u)\n", grid.x, grid.y, grid.z, block.x,
                 block.y, block.z);
    std::abort();
  }
  block_dim = block;
  grid_dim = grid;
  body = [&]() { std::apply(kernel, params); };
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        block_idx = uint3{x, y, z};
        run_block(nthreads);
      }
}

template <typename T>
T warp_exchange(T v, int partner) {
  static_assert(sizeof(T) <= 8, "");
  std::memcpy(&current->slot, &v, sizeof(T));
  current->partner = partner;
  current->state = AT_WARP;
  yield_to_scheduler();
  T r;
  std::memcpy(&r, &current->result, sizeof(T));
  return r;
}
}  // namespace emu

#define threadIdx (emu::current->tid)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

inline void __syncthreads() {
  emu::current->state = emu::AT_BARRIER;
  emu::yield_to_scheduler();
}
inline void __syncwarp(unsigned = 0xffffffffu) { emu::warp_exchange<int>(0, -1); }
template <typename T>
T __shfl_xor_sync(unsigned, T v, int mask) {
  return emu::warp_exchange(v, int(emu::current->linear % 32) ^ mask);
}
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
using std::isnan;
template <typename A, typename B>
inline auto min(A a, B b) -> std::common_type_t<A, B> { return a < b ? a : b; }
template <typename A, typename B>
inline auto max(A a, B b) -> std::common_type_t<A, B> { return a > b ? a : b; }
