// Runs a kernel launch: block after block, each block's threads as fibers.
//
// A thread runs alone until it reaches __syncthreads, a warp collective, or its end. When no
// thread can run, the scheduler completes whatever barrier or collective has all its
// participants, or reports the divergence that keeps it from ever completing. Within each round
// the runnable threads go in the configured order (forward, reverse, or a fresh seeded shuffle),
// so a missing barrier (a thread reading what another writes in the same round) changes the
// result from run to run instead of happening to work. Blocks run in the same kind of order.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "fiber.h"
#include "internal.h"

namespace emu {

ThreadCtx* g_thread = nullptr;
uint3 g_block_idx{0, 0, 0};
dim3 g_block_dim;
dim3 g_grid_dim;

namespace {

constexpr std::size_t kStackBytes = 128 * 1024;
constexpr int kMaxThreads = 1024;

enum class State : unsigned char { Ready, AtBarrier, AtWarp, Done };
enum BarrierKind : int { kSync, kCount, kAnd, kOr };

struct Fiber {
  ThreadCtx* ctx = nullptr;  // at the top of the stack
  void* sp = nullptr;
  char* lo = nullptr;  // usable stack [lo, hi)
  char* hi = nullptr;
  State state = State::Ready;
  // waiting at __syncthreads
  const void* site = nullptr;
  int kind = kSync, pred = 0, bar_result = 0;
  // waiting at a warp collective
  int op = 0, arg = 0, width = 32, bytes = 0;
  unsigned mask = 0;
  std::uint64_t value = 0, result = 0;
};

char* g_stacks = nullptr;  // kMaxThreads stacks, each above a guard page
std::size_t g_slot = 0;    // bytes per stack slot (guard + stack)
std::size_t g_page = 4096;
Fiber g_fibers[kMaxThreads];
void* g_scheduler_sp = nullptr;
Fiber* g_current = nullptr;
const KernelLaunch* g_launch = nullptr;
int g_nthreads = 0;
bool g_block_abort = false;
bool g_executing = false;
cudaError_t g_fault_code = cudaSuccess;
std::string g_fault;
std::mt19937_64 g_rng;
std::uint64_t g_launch_counter = 0;

std::map<std::string, KernelStats>& stats() {
  static auto* s = new std::map<std::string, KernelStats>();  // still there for the log written at exit
  return *s;
}

void init_stacks() {
  if (g_stacks) return;
  g_page = std::size_t(sysconf(_SC_PAGESIZE));
  g_slot = kStackBytes + g_page;
  void* m = mmap(nullptr, g_slot * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (m == MAP_FAILED) fatal("cannot map the emulated threads' stacks");
  g_stacks = static_cast<char*>(m);
  for (int t = 0; t < kMaxThreads; ++t) {
    char* slot = g_stacks + std::size_t(t) * g_slot;
    mprotect(slot, g_page, PROT_NONE);  // guard page: a stack overflow traps (signals.cpp)
    Fiber& f = g_fibers[t];
    f.lo = slot + g_page;
    f.ctx = reinterpret_cast<ThreadCtx*>(slot + g_slot - 64);
    f.hi = reinterpret_cast<char*>(f.ctx);
  }
}

std::string fmt3(uint3 v) { return str("(%u,%u,%u)", v.x, v.y, v.z); }
std::string fmt3(dim3 v) { return str("(%u,%u,%u)", v.x, v.y, v.z); }

void switch_to_scheduler() { fiber_switch(&g_current->sp, g_scheduler_sp); }

void fiber_main(void* arg) {
  Fiber* f = static_cast<Fiber*>(arg);
  try {
    g_launch->invoke(g_launch->args.get());
  } catch (const std::exception& e) {
    kernel_fault(cudaErrorLaunchFailure, str("%s threw an exception: %s", current_thread_where().c_str(), e.what()));
  } catch (...) {
    kernel_fault(cudaErrorLaunchFailure, str("%s threw an exception", current_thread_where().c_str()));
  }
  f->state = State::Done;
  switch_to_scheduler();
  __builtin_unreachable();
}

void run_fiber(Fiber& f) {
  g_current = &f;
  g_thread = f.ctx;
  g_hook.stack_lo = reinterpret_cast<std::uintptr_t>(f.lo);
  g_hook.stack_size = std::size_t(f.hi - f.lo) + 64;
  fiber_switch(&g_scheduler_sp, f.sp);
}

void block_fault(const std::string& message) {
  kernel_fault(cudaErrorLaunchFailure, message);
  g_block_abort = true;
}

const char* op_name(int op) {
  static const char* names[] = {"__syncwarp",   "__shfl_sync",      "__shfl_up_sync",    "__shfl_down_sync",
                                "__shfl_xor_sync", "__ballot_sync", "__any_sync",        "__all_sync",
                                "__reduce_add_sync", "__reduce_min_sync", "__reduce_max_sync", "__reduce_and_sync",
                                "__reduce_or_sync",  "__reduce_xor_sync", "mma.sync.m16n8k16 (bf16)",
                                "mma.sync.m16n8k8 (tf32)"};
  return op >= 0 && op < int(sizeof names / sizeof *names) ? names[op] : "a warp collective";
}

std::string describe_waits() {
  std::string s;
  int shown = 0;
  for (int t = 0; t < g_nthreads && shown < 8; ++t) {
    const Fiber& f = g_fibers[t];
    if (f.state == State::AtBarrier) {
      s += str("\n  thread %d waits at __syncthreads (code address %p)", t, f.site);
      ++shown;
    } else if (f.state == State::AtWarp) {
      s += str("\n  thread %d (lane %d) waits at %s with mask 0x%08x", t, t & 31, op_name(f.op), f.mask);
      ++shown;
    }
  }
  int exited = 0;
  for (int t = 0; t < g_nthreads; ++t) exited += g_fibers[t].state == State::Done;
  if (exited) s += str("\n  %d threads have exited", exited);
  return s;
}

// The lanes of warp w (of a block with n threads) that exist and have not exited.
unsigned live_lanes(int w) {
  unsigned m = 0;
  const int lo = w * 32, hi = std::min(g_nthreads, lo + 32);
  for (int t = lo; t < hi; ++t)
    if (g_fibers[t].state != State::Done) m |= 1u << (t - lo);
  return m;
}

std::uint64_t poison(int bytes) { return bytes >= 8 ? ~std::uint64_t(0) : ((std::uint64_t(1) << (8 * bytes)) - 1); }

// The bf16 in the low (half 0) or high (half 1) 16 bits of a register, as a float (exact).
float bf16_at(std::uint32_t reg, int half) {
  return from_bits<float>(std::uint64_t((reg >> (16 * half)) & 0xffffu) << 16);
}

// A tf32 operand as a float: its low 13 bits ignored, as the instruction does.
float tf32_at(std::uint32_t reg) { return from_bits<float>(std::uint64_t(reg & 0xffffe000u)); }

// The tensor-core multiplies of warp w's lanes in `group` (device.h). Lane l holds, with
// g = l / 4 and t = l % 4 (the PTX ISA's groupID and threadID_in_group):
//   m16n8k16 bf16, two per register, the lower k in the low 16 bits:
//     A registers 0..3: row g, k 2t..2t+1 | row g+8, k 2t..2t+1 | row g, k 2t+8..2t+9 | row g+8, k 2t+8..2t+9
//     B registers 0..1: column g, k 2t..2t+1 | column g, k 2t+8..2t+9
//   m16n8k8 tf32, one per register:
//     A registers 0..3: (g, t) | (g+8, t) | (g, t+4) | (g+8, t+4)
//     B registers 0..1: (t, g) | (t+4, g)
//   C and D 0..3 (both): (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)
// D = A B + C with exact products and FP32 sums in k order.
void mma_collective(int w, unsigned group, bool tf32) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const int depth = tf32 ? 8 : 16;
  float A[16][16], B[16][8], C[16][8];
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, t = l % 4;
    const bool in = group >> l & 1;
    const MmaLane* f = in ? reinterpret_cast<const MmaLane*>(g_fibers[w * 32 + l].value) : nullptr;
    for (int r = 0; r < 4; ++r) {
      if (tf32) {
        A[g + 8 * (r & 1)][t + 4 * (r >> 1)] = f ? tf32_at(f->a[r]) : nan;
      } else {
        const int row = g + 8 * (r & 1), k = 2 * t + 8 * (r >> 1);
        for (int h = 0; h < 2; ++h) A[row][k + h] = f ? bf16_at(f->a[r], h) : nan;
      }
    }
    for (int r = 0; r < 2; ++r) {
      if (tf32)
        B[t + 4 * r][g] = f ? tf32_at(f->b[r]) : nan;
      else
        for (int h = 0; h < 2; ++h) B[2 * t + 8 * r + h][g] = f ? bf16_at(f->b[r], h) : nan;
    }
    for (int e = 0; e < 4; ++e) C[g + 8 * (e >> 1)][2 * t + (e & 1)] = f ? f->d[e] : nan;
  }
  for (int l = 0; l < 32; ++l) {
    if (!(group >> l & 1)) continue;
    const MmaLane* f = reinterpret_cast<const MmaLane*>(g_fibers[w * 32 + l].value);
    const int g = l / 4, t = l % 4;
    for (int e = 0; e < 4; ++e) {
      const int row = g + 8 * (e >> 1), col = 2 * t + (e & 1);
      float acc = C[row][col];
      for (int k = 0; k < depth; ++k) acc = std::fma(A[row][k], B[k][col], acc);  // exact products
      f->d[e] = acc;
    }
  }
}

// Completes the collective that lane `first` of warp w waits at, if all its participants are
// there. Returns true if it did.
bool try_collective(int w, int first) {
  const int lo = w * 32;
  const Fiber& f0 = g_fibers[lo + first];
  const bool masks = config().warp_masks;
  const unsigned live = live_lanes(w);
  const unsigned group = masks ? (f0.mask & live) : live;
  for (int l = 0; l < 32; ++l) {
    if (!(group >> l & 1)) continue;
    const Fiber& f = g_fibers[lo + l];
    if (f.state != State::AtWarp || f.op != f0.op || (masks && f.mask != f0.mask)) return false;
  }
  if (f0.op == kMmaBf16 || f0.op == kMmaTf32) {
    mma_collective(w, group, f0.op == kMmaTf32);
    for (int l = 0; l < 32; ++l)
      if (group >> l & 1) g_fibers[lo + l].state = State::Ready;
    return true;
  }
  std::uint64_t ballot = 0, sum = 0, mn = ~std::uint64_t(0), mx = 0, band = ~std::uint64_t(0), bor = 0, bxor = 0;
  std::int64_t smn = INT64_MAX, smx = INT64_MIN;
  for (int l = 0; l < 32; ++l) {
    if (!(group >> l & 1)) continue;
    const std::uint64_t v = g_fibers[lo + l].value;
    if (v) ballot |= 1ull << l;
    const std::uint32_t u = std::uint32_t(v);
    sum += u;
    mn = std::min<std::uint64_t>(mn, u);
    mx = std::max<std::uint64_t>(mx, u);
    smn = std::min<std::int64_t>(smn, std::int32_t(u));
    smx = std::max<std::int64_t>(smx, std::int32_t(u));
    band &= u;
    bor |= u;
    bxor ^= u;
  }
  for (int l = 0; l < 32; ++l) {
    if (!(group >> l & 1)) continue;
    Fiber& f = g_fibers[lo + l];
    const int width = f.width > 0 && f.width <= 32 && (f.width & (f.width - 1)) == 0 ? f.width : 32;
    const int seg = l & ~(width - 1);
    int src = -1;  // lane to read from; -1: the caller's own value
    switch (f.op) {
      case kShflIdx: src = seg + (f.arg & (width - 1)); break;
      case kShflUp: src = (l - seg) - f.arg < 0 ? -1 : l - f.arg; break;
      case kShflDown: src = (l - seg) + f.arg >= width ? -1 : l + f.arg; break;
      case kShflXor: {
        const int s = (l ^ f.arg) & 31;
        src = (s & ~(width - 1)) > seg ? -1 : s;  // a later group of `width` lanes: own value
        break;
      }
      default: break;
    }
    switch (f.op) {
      case kSyncWarp: f.result = 0; break;
      case kShflIdx:
      case kShflUp:
      case kShflDown:
      case kShflXor:
        if (src < 0 || src == l)
          f.result = f.value;
        else if (group >> src & 1)
          f.result = g_fibers[lo + src].value;
        else
          // Undefined on a GPU: the source lane is not in the mask, has exited, or does not exist
          // (past the end of a partial warp). Without the mask check, the old emulator's answer.
          f.result = masks ? poison(f.bytes) : f.value;
        break;
      case kBallot: f.result = ballot; break;
      case kAny: f.result = ballot != 0; break;
      case kAll: f.result = ballot == group; break;
      case kReduceAdd: f.result = std::uint32_t(sum); break;
      case kReduceMin: f.result = f.arg ? std::uint64_t(smn) : mn; break;
      case kReduceMax: f.result = f.arg ? std::uint64_t(smx) : mx; break;
      case kReduceAnd: f.result = band; break;
      case kReduceOr: f.result = bor; break;
      case kReduceXor: f.result = bxor; break;
    }
    f.state = State::Ready;
  }
  return true;
}

// Called when no thread can run. Returns false once the block has finished or failed.
bool resolve_waits() {
  int live = 0, at_barrier = 0, at_warp = 0;
  for (int t = 0; t < g_nthreads; ++t) {
    const State s = g_fibers[t].state;
    live += s != State::Done;
    at_barrier += s == State::AtBarrier;
    at_warp += s == State::AtWarp;
  }
  if (live == 0) return false;
  bool progress = false;
  if (at_warp) {
    for (int w = 0; w * 32 < g_nthreads; ++w) {
      const int lo = w * 32, hi = std::min(g_nthreads, lo + 32);
      for (int t = lo; t < hi; ++t)
        if (g_fibers[t].state == State::AtWarp && try_collective(w, t - lo)) progress = true;
    }
    if (progress) return true;
  }
  if (at_barrier == live) {
    const int exited = g_nthreads - live;
    const void* site = nullptr;
    bool same_site = true;
    int count = 0;
    for (int t = 0; t < g_nthreads; ++t) {
      const Fiber& f = g_fibers[t];
      if (f.state != State::AtBarrier) continue;
      if (!site) site = f.site;
      same_site = same_site && f.site == site;
      count += f.pred != 0;
    }
    if (exited) {
      block_fault(str("barrier divergence in %s: %d threads exited while %d wait at __syncthreads (every thread of "
                      "the block must reach each __syncthreads)%s",
                      current_thread_where().c_str(), exited, at_barrier, describe_waits().c_str()));
      return false;
    }
    if (!same_site) {
      block_fault(str("barrier divergence in %s: threads wait at different __syncthreads calls%s",
                      current_thread_where().c_str(), describe_waits().c_str()));
      return false;
    }
    for (int t = 0; t < g_nthreads; ++t) {
      Fiber& f = g_fibers[t];
      f.bar_result = f.kind == kCount ? count : f.kind == kAnd ? count == live : f.kind == kOr ? count > 0 : 0;
      f.state = State::Ready;
    }
    return true;
  }
  block_fault(str("deadlock in %s: the threads wait at barriers or warp collectives that can never complete%s",
                  current_thread_where().c_str(), describe_waits().c_str()));
  return false;
}

void order(std::vector<int>& ids) {
  switch (config().order) {
    case Order::Forward: break;
    case Order::Reverse: std::reverse(ids.begin(), ids.end()); break;
    case Order::Random: std::shuffle(ids.begin(), ids.end(), g_rng); break;
  }
}

void run_block(uint3 bidx) {
  g_block_idx = bidx;
  g_block_abort = false;
  shared_begin_block(g_launch->smem);
  const dim3 b = g_launch->block;
  for (int t = 0; t < g_nthreads; ++t) {
    Fiber& f = g_fibers[t];
    f.ctx->tid = uint3{unsigned(t) % b.x, (unsigned(t) / b.x) % b.y, unsigned(t) / (b.x * b.y)};
    f.ctx->linear = unsigned(t);
    f.state = State::Ready;
    f.sp = fiber_prepare(f.lo, f.hi, &fiber_main, &f);
  }
  std::vector<int> ready;
  ready.reserve(g_nthreads);
  for (;;) {
    ready.clear();
    for (int t = 0; t < g_nthreads; ++t)
      if (g_fibers[t].state == State::Ready) ready.push_back(t);
    if (ready.empty()) {
      if (!resolve_waits() || g_block_abort) break;
      continue;
    }
    order(ready);
    for (int t : ready) {
      run_fiber(g_fibers[t]);
      if (g_block_abort) break;
    }
    if (g_block_abort) break;
  }
  g_current = nullptr;
  g_thread = nullptr;
}

}  // namespace

bool executing_kernel() { return g_executing; }

void restart_order() { g_launch_counter = 0; }

std::string current_thread_where() {
  if (!g_launch) return "host code";
  std::string s = str("kernel `%s` (grid %s, block %s) in block %s", g_launch->name, fmt3(g_launch->grid).c_str(),
                      fmt3(g_launch->block).c_str(), fmt3(g_block_idx).c_str());
  if (g_current) s += str(", thread %s", fmt3(g_current->ctx->tid).c_str());
  return s;
}

void kernel_fault(cudaError_t code, const std::string& message) {
  if (g_fault_code == cudaSuccess) {
    g_fault_code = code;
    g_fault = message;
  }
}

bool in_fiber_guard(std::uintptr_t a, std::string* where) {
  if (!g_stacks || a < reinterpret_cast<std::uintptr_t>(g_stacks) ||
      a >= reinterpret_cast<std::uintptr_t>(g_stacks) + g_slot * kMaxThreads)
    return false;
  const std::size_t in_slot = (a - reinterpret_cast<std::uintptr_t>(g_stacks)) % g_slot;
  if (in_slot >= g_page) return false;
  *where = current_thread_where();
  return true;
}

cudaError_t run_kernel(const KernelLaunch& l) {
  init_stacks();
  const auto start = std::chrono::steady_clock::now();
  const dim3 g = l.grid, b = l.block;
  g_launch = &l;
  g_nthreads = int(b.x * b.y * b.z);
  g_block_dim = b;
  g_grid_dim = g;
  g_fault_code = cudaSuccess;
  g_fault.clear();
  g_rng.seed(config().seed * 0x9E3779B97F4A7C15ull + ++g_launch_counter);
  const std::uint64_t blocks = std::uint64_t(g.x) * g.y * g.z;
  {
    DeviceAccess access;
    g_executing = true;
    g_hook.in_kernel = true;
    g_hook.args_lo = reinterpret_cast<std::uintptr_t>(l.args.get());
    g_hook.args_size = l.args_size;
    // Block order: forward, reverse, or a random permutation (walked without materialising
    // it for very large grids: a random start and a stride coprime with the count).
    std::uint64_t start_at = 0, stride = 1;
    if (config().order == Order::Random && blocks > 1) {
      start_at = g_rng() % blocks;
      stride = g_rng() % blocks;
      while (std::gcd(stride, blocks) != 1 || stride == 0) stride = (stride + 1) % blocks;
    }
    for (std::uint64_t i = 0; i < blocks; ++i) {
      std::uint64_t n = i;
      if (config().order == Order::Reverse) n = blocks - 1 - i;
      if (config().order == Order::Random) n = (start_at + i * stride) % blocks;
      const uint3 bidx{unsigned(n % g.x), unsigned((n / g.x) % g.y), unsigned(n / (std::uint64_t(g.x) * g.y))};
      run_block(bidx);
      if (g_fault_code != cudaSuccess) break;
    }
    g_hook = HookState{};
    g_executing = false;
  }
  KernelStats& s = stats()[l.name];
  s.name = l.name;
  ++s.launches;
  s.blocks += blocks;
  s.threads += blocks * std::uint64_t(g_nthreads);
  s.max_grid[0] = std::max(s.max_grid[0], g.x);
  s.max_grid[1] = std::max(s.max_grid[1], g.y);
  s.max_grid[2] = std::max(s.max_grid[2], g.z);
  s.max_block = std::max(s.max_block, unsigned(g_nthreads));
  s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  g_launch = nullptr;
  if (g_fault_code != cudaSuccess) {
    set_sticky_error(g_fault_code, g_fault);
    return g_fault_code;
  }
  return cudaSuccess;
}

std::vector<KernelStats> kernel_stats() {
  std::lock_guard<std::recursive_mutex> lock(api_mutex());
  std::vector<KernelStats> v;
  for (const auto& [name, s] : stats()) v.push_back(s);
  return v;
}

// ---- what kernels call ------------------------------------------------------------------------------

std::uint64_t warp_collective(int op, unsigned mask, std::uint64_t value, int arg, int width, int bytes) {
  Fiber* f = g_current;
  const int lane = int(f->ctx->linear & 31);
  if (config().warp_masks && !(mask >> lane & 1)) {
    block_fault(str("%s called %s with mask 0x%08x, which does not include its own lane %d",
                    current_thread_where().c_str(), op_name(op), mask, lane));
    switch_to_scheduler();
  }
  f->op = op;
  f->mask = mask;
  f->value = value;
  f->arg = arg;
  f->width = width;
  f->bytes = bytes;
  f->state = State::AtWarp;
  switch_to_scheduler();
  return f->result;
}

void check_launch_bounds(unsigned max_threads, const char* kernel) {
  const unsigned n = g_block_dim.x * g_block_dim.y * g_block_dim.z;
  if (n > max_threads) {
    kernel_fault(cudaErrorLaunchOutOfResources,
                 str("kernel `%s` launched with %u threads per block, more than its __launch_bounds__(%u): "
                     "the launch fails on a GPU",
                     kernel, n, max_threads));
    g_block_abort = true;
    g_current->state = State::Done;
    switch_to_scheduler();
  }
}

}  // namespace emu

namespace {
int barrier(int kind, int pred, const void* site) {
  emu::Fiber* f = emu::g_current;
  f->site = site;
  f->kind = kind;
  f->pred = pred;
  f->state = emu::State::AtBarrier;
  emu::switch_to_scheduler();
  return f->bar_result;
}
}  // namespace

void __syncthreads() { barrier(emu::kSync, 0, __builtin_return_address(0)); }
int __syncthreads_count(int p) { return barrier(emu::kCount, p != 0, __builtin_return_address(0)); }
int __syncthreads_and(int p) { return barrier(emu::kAnd, p != 0, __builtin_return_address(0)); }
int __syncthreads_or(int p) { return barrier(emu::kOr, p != 0, __builtin_return_address(0)); }
