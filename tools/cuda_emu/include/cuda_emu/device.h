// The kernel side of the CUDA emulator (tools/cuda_emu): what a translated .cu file sees.
//
// translate.py turns `k<<<grid, block, smem, stream>>>(args)` into emu::launch(...) and each
// `__shared__` declaration into a per-block slot; everything else in a kernel compiles as
// plain C++ against the definitions below. Each CUDA thread runs as a fiber on its own stack;
// __syncthreads and the warp intrinsics are the only places where a thread gives way, so
// between two of them a thread runs alone, and the scheduler picks the order (forward,
// reverse or seeded random; docs/cuda.md). Device memory accesses in kernel files are checked
// through the compiler's kernel-address instrumentation (memory.cpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

struct CUstream_st;
typedef CUstream_st* cudaStream_t;

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct int2 {
  int x, y;
};
struct int4 {
  int x, y, z, w;
};
struct float2 {
  float x, y;
};
struct __attribute__((aligned(16))) float4 {
  float x, y, z, w;
};
struct __attribute__((aligned(16))) double2 {
  double x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline dim3 make_dim3(unsigned x, unsigned y, unsigned z) { return dim3(x, y, z); }

namespace emu {

// The running thread's coordinates. Lives at the top of the thread's own stack, so that the
// memory checker sees an access to it as a stack access.
struct ThreadCtx {
  uint3 tid;
  unsigned linear;
};
extern ThreadCtx* g_thread;
extern uint3 g_block_idx;
extern dim3 g_block_dim;
extern dim3 g_grid_dim;

// ---- launches ---------------------------------------------------------------------------------
enum class ParamKind : unsigned char { Value, ConstPointer, Pointer, Aggregate };
struct ParamInfo {
  std::size_t offset, size;
  ParamKind kind;
};
struct KernelLaunch {
  const char* name = "";
  const void* func = nullptr;  // the kernel (for cudaFuncSetAttribute)
  dim3 grid, block;
  std::size_t smem = 0;
  void (*invoke)(void*) = nullptr;  // runs the kernel on the argument block
  std::shared_ptr<void> args;       // the argument block (the kernel pointer and its parameters)
  std::size_t args_size = 0;
  std::vector<ParamInfo> params;
};
// Queues the launch on `stream` (or runs it, with CUDA_LAUNCH_BLOCKING=1). A bad configuration
// is reported by the next cudaGetLastError, as on a GPU.
void submit_kernel(KernelLaunch&& launch, cudaStream_t stream);

template <class... KArgs>
struct ArgBlock {
  void (*kernel)(KArgs...);
  std::tuple<std::decay_t<KArgs>...> args;
};

template <class Block>
void invoke_kernel(void* p) {
  Block* b = static_cast<Block*>(p);
  std::apply(b->kernel, b->args);
}

template <class T>
constexpr ParamKind param_kind() {
  if constexpr (std::is_pointer_v<T>)
    return std::is_const_v<std::remove_pointer_t<T>> ? ParamKind::ConstPointer : ParamKind::Pointer;
  else if constexpr (std::is_class_v<T> || std::is_array_v<T>)
    return ParamKind::Aggregate;
  else
    return ParamKind::Value;
}

template <class Block, std::size_t... I>
void describe_params(const Block* b, std::vector<ParamInfo>& out, std::index_sequence<I...>) {
  const char* base = reinterpret_cast<const char*>(b);
  (out.push_back(ParamInfo{static_cast<std::size_t>(reinterpret_cast<const char*>(&std::get<I>(b->args)) - base),
                           sizeof(std::tuple_element_t<I, decltype(b->args)>),
                           param_kind<std::tuple_element_t<I, decltype(b->args)>>()}),
   ...);
}

template <class... KArgs, class... Args>
void launch(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
            Args&&... args) {
  static_assert(sizeof...(KArgs) == sizeof...(Args), "kernel launched with the wrong number of arguments");
  using Block = ArgBlock<KArgs...>;
  // Zeroed storage: the launch scans the parameters' bytes for device pointers (to track which
  // allocations queued work uses), and padding must not hold stale pointers.
  void* raw = ::operator new(sizeof(Block), std::align_val_t(alignof(Block) < 16 ? 16 : alignof(Block)));
  std::memset(raw, 0, sizeof(Block));
  Block* b = new (raw) Block{kernel, std::tuple<std::decay_t<KArgs>...>(std::forward<Args>(args)...)};
  KernelLaunch l;
  l.name = name;
  l.func = reinterpret_cast<const void*>(kernel);
  l.grid = grid;
  l.block = block;
  l.smem = smem;
  l.invoke = &invoke_kernel<Block>;
  l.args = std::shared_ptr<void>(b, [](void* p) {
    static_cast<Block*>(p)->~Block();
    ::operator delete(p, std::align_val_t(alignof(Block) < 16 ? 16 : alignof(Block)));
  });
  l.args_size = sizeof(Block);
  describe_params(b, l.params, std::index_sequence_for<KArgs...>{});
  submit_kernel(std::move(l), stream);
}

// ---- shared memory ----------------------------------------------------------------------------
// One per __shared__ declaration (a function-local static). The first thread of a block to
// reach the declaration gets fresh storage for that block, filled with 0xFF bytes (NaN as
// float), inside redzones that the memory checker watches.
class SharedSlot {
 public:
  constexpr SharedSlot(const char* name, const char* file, int line) : name_(name), file_(file), line_(line) {}
  void* get(std::size_t bytes, std::size_t align);  // memory.cpp

 private:
  unsigned long long generation_ = 0;
  void* ptr_ = nullptr;
  void* static_ptr_ = nullptr;  // with poisoning off: one storage for every block, as a plain static
  const char* name_;
  const char* file_;
  int line_;
};
template <class T, std::size_t Align>
T& shared_var(SharedSlot& slot) {
  return *static_cast<T*>(slot.get(sizeof(T), Align > alignof(T) ? Align : alignof(T)));
}
// `extern __shared__ T name[]`: the launch's dynamic shared memory.
void* dynamic_shared();

// Checks a kernel's __launch_bounds__ against the launch's block size (every thread calls it).
void check_launch_bounds(unsigned max_threads, const char* kernel);

// ---- warp collectives -------------------------------------------------------------------------
enum WarpOp : int {
  kSyncWarp,
  kShflIdx,
  kShflUp,
  kShflDown,
  kShflXor,
  kBallot,
  kAny,
  kAll,
  kReduceAdd,
  kReduceMin,
  kReduceMax,
  kReduceAnd,
  kReduceOr,
  kReduceXor,
  kMmaBf16,
  kMmaTf32,
};
// Waits until every live lane named in `mask` has reached a collective of the same kind and
// mask, then returns this lane's result. Lanes read from a lane that does not take part (not
// in the mask, exited, or past the end of a partial warp) get all-one bits (NaN as float).
std::uint64_t warp_collective(int op, unsigned mask, std::uint64_t value, int arg, int width, int bytes);

template <class T>
std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp shuffles move at most 64 bits");
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
template <class T>
T shuffle(int op, unsigned mask, T v, int arg, int width) {
  return from_bits<T>(warp_collective(op, mask, to_bits(v), arg, width, int(sizeof(T))));
}
// A vote or reduction over a full warp of 32-bit values, as R; arg 1 compares them as signed.
template <class R>
R warp32(int op, unsigned mask, std::uint64_t value, int arg = 0) {
  return R(warp_collective(op, mask, value, arg, 32, 4));
}

}  // namespace emu

#define threadIdx (::emu::g_thread->tid)
#define blockIdx (::emu::g_block_idx)
#define blockDim (::emu::g_block_dim)
#define gridDim (::emu::g_grid_dim)
constexpr int warpSize = 32;
#define __global__
#define __device__
#define __host__
#define __noinline__ __attribute__((noinline))
#define __forceinline__ inline __attribute__((always_inline))
#define __align__(n) __attribute__((aligned(n)))
// translate.py turns __launch_bounds__ into a check at the top of the kernel's body.
#define __launch_bounds__(...)

// ---- barriers ----------------------------------------------------------------------------------
void __syncthreads();
int __syncthreads_count(int predicate);
int __syncthreads_and(int predicate);
int __syncthreads_or(int predicate);
// One fiber at a time, each running alone between barriers: every store is visible to the
// next thread that runs, so fences have nothing to do (docs/cuda.md: memory ordering between
// concurrent blocks is not modelled).
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}

inline void __syncwarp(unsigned mask = 0xffffffffu) { ::emu::warp_collective(::emu::kSyncWarp, mask, 0, 0, 32, 0); }
template <class T>
T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return ::emu::shuffle(::emu::kShflIdx, mask, v, src_lane, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::emu::shuffle(::emu::kShflUp, mask, v, int(delta), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return ::emu::shuffle(::emu::kShflDown, mask, v, int(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return ::emu::shuffle(::emu::kShflXor, mask, v, lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int pred) { return emu::warp32<unsigned>(emu::kBallot, mask, pred != 0); }
inline int __any_sync(unsigned mask, int pred) { return emu::warp32<int>(emu::kAny, mask, pred != 0); }
inline int __all_sync(unsigned mask, int pred) { return emu::warp32<int>(emu::kAll, mask, pred != 0); }
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) { return emu::warp32<unsigned>(emu::kReduceAdd, mask, v); }
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) { return emu::warp32<unsigned>(emu::kReduceMin, mask, v); }
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) { return emu::warp32<unsigned>(emu::kReduceMax, mask, v); }
inline int __reduce_add_sync(unsigned mask, int v) { return emu::warp32<int>(emu::kReduceAdd, mask, unsigned(v)); }
inline int __reduce_min_sync(unsigned mask, int v) {
  return emu::warp32<int>(emu::kReduceMin, mask, std::uint64_t(std::int64_t(v)), 1);
}
inline int __reduce_max_sync(unsigned mask, int v) {
  return emu::warp32<int>(emu::kReduceMax, mask, std::uint64_t(std::int64_t(v)), 1);
}
inline unsigned __reduce_and_sync(unsigned mask, unsigned v) { return emu::warp32<unsigned>(emu::kReduceAnd, mask, v); }
inline unsigned __reduce_or_sync(unsigned mask, unsigned v) { return emu::warp32<unsigned>(emu::kReduceOr, mask, v); }
inline unsigned __reduce_xor_sync(unsigned mask, unsigned v) { return emu::warp32<unsigned>(emu::kReduceXor, mask, v); }

// ---- tensor cores ------------------------------------------------------------------------------
// CUDA_EMU_DEVICE tells kernel code that it is compiled for the emulator, where inline PTX cannot
// run: kernels/cuda/mma.cuh calls the function below where a GPU build has the instruction.
#define CUDA_EMU_DEVICE 1
namespace emu {
// The operands of one lane at an mma.
struct MmaLane {
  const std::uint32_t* a;  // 4 registers: 2 bf16 each, or 1 tf32
  const std::uint32_t* b;  // 2 registers: 2 bf16 each, or 1 tf32
  float* d;                // 4 floats: the accumulator in, the result out
};
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 with d as both C and D: D = A B + C for a
// 16x16 A, a 16x8 B and a 16x8 C spread over the warp's 32 lanes as the PTX ISA lays them out
// ("Matrix Fragments for mma.m16n8k16 with floating point type"). One warp collective: the
// scheduler gathers the warp's fragments, multiplies (exact bf16 products, FP32 sums in k order)
// and hands each lane its part of D. A lane that does not take part (exited, or missing from a
// partial warp) gives NaN operands, as the instruction is undefined without all 32 lanes.
inline void mma_bf16_m16n8k16(float* d, const std::uint32_t* a, const std::uint32_t* b) {
  MmaLane lane{a, b, d};
  warp_collective(kMmaBf16, 0xffffffffu, reinterpret_cast<std::uintptr_t>(&lane), 0, 32, 8);
}
// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 likewise ("Matrix Fragments for
// mma.m16n8k8", .tf32): a 16x8 A and an 8x8 B, one tf32 per register, whose low 13 bits the
// instruction ignores.
inline void mma_tf32_m16n8k8(float* d, const std::uint32_t* a, const std::uint32_t* b) {
  MmaLane lane{a, b, d};
  warp_collective(kMmaTf32, 0xffffffffu, reinterpret_cast<std::uintptr_t>(&lane), 0, 32, 8);
}
}  // namespace emu
// The lanes known to execute together: the emulator never assumes convergence, so only the
// caller itself (code that then shuffles with this mask reads poison from everyone else).
inline unsigned __activemask() { return 1u << (::emu::g_thread->linear & 31); }

// ---- atomics: threads never interleave between barriers, so a plain read-modify-write is atomic.
namespace emu {
// *p = update(*p); returns the old value, as every CUDA atomic does.
template <class T, class F>
T atomic_update(T* p, F update) {
  const T old = *p;
  *p = update(old);
  return old;
}
}  // namespace emu
template <class T>
T atomicAdd(T* p, T v) { return ::emu::atomic_update(p, [v](T old) { return old + v; }); }
template <class T>
T atomicSub(T* p, T v) { return ::emu::atomic_update(p, [v](T old) { return old - v; }); }
template <class T>
T atomicMax(T* p, T v) { return ::emu::atomic_update(p, [v](T old) { return old < v ? v : old; }); }
template <class T>
T atomicMin(T* p, T v) { return ::emu::atomic_update(p, [v](T old) { return v < old ? v : old; }); }
template <class T>
T atomicExch(T* p, T v) { return ::emu::atomic_update(p, [v](T) { return v; }); }
template <class T>
T atomicAnd(T* p, T v) { return ::emu::atomic_update(p, [v](T old) { return old & v; }); }
template <class T>
T atomicOr(T* p, T v) { return ::emu::atomic_update(p, [v](T old) { return old | v; }); }
template <class T>
T atomicCAS(T* p, T compare, T v) {
  return ::emu::atomic_update(p, [compare, v](T old) { return old == compare ? v : old; });
}

// ---- device math and bit intrinsics -------------------------------------------------------------
// Explicitly rounded arithmetic: volatile keeps the compiler from fusing these into an FMA
// (kernel files are compiled with -ffp-contract=fast, like nvcc's default --fmad=true).
namespace emu {
template <class T>
T rounded(T r) {
  volatile T stored = r;
  return stored;
}
}  // namespace emu
inline float __fadd_rn(float a, float b) { return ::emu::rounded(a + b); }
inline float __fsub_rn(float a, float b) { return ::emu::rounded(a - b); }
inline float __fmul_rn(float a, float b) { return ::emu::rounded(a * b); }
inline float __fdiv_rn(float a, float b) { return ::emu::rounded(a / b); }
inline double __dadd_rn(double a, double b) { return ::emu::rounded(a + b); }
inline double __dmul_rn(double a, double b) { return ::emu::rounded(a * b); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __float_as_int(float x) { return ::emu::from_bits<int>(::emu::to_bits(x)); }
inline float __int_as_float(int i) { return ::emu::from_bits<float>(::emu::to_bits(i)); }
inline unsigned __float_as_uint(float x) { return ::emu::from_bits<unsigned>(::emu::to_bits(x)); }
inline float __uint_as_float(unsigned i) { return ::emu::from_bits<float>(::emu::to_bits(i)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(unsigned x) { return x ? __builtin_clz(x) : 32; }
inline int __ffs(unsigned x) { return __builtin_ffs(int(x)); }
template <class T>
T __ldg(const T* p) {
  return *p;
}
using std::isinf;
using std::isnan;
template <class A, class B>
inline auto min(A a, B b) -> std::common_type_t<A, B> {
  return a < b ? a : b;
}
template <class A, class B>
inline auto max(A a, B b) -> std::common_type_t<A, B> {
  return a > b ? a : b;
}
