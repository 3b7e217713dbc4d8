// What the CPU kernels share: when to go parallel, and scratch memory that a steady-state call
// never allocates. Internal to kernels/cpu; nothing outside includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <new>

namespace minidl::kernels::cpu::detail {

// Below this many elements an elementwise loop is cheaper on one thread than the fork/join of
// an OpenMP team (a few microseconds); used as `#pragma omp parallel for if (n >= kParallelGrain)`.
inline constexpr std::int64_t kParallelGrain = 32768;

// Runs body(i) for every i in [0, count) across the OpenMP team, handing out one index at a time
// to whichever thread is free: the pieces of work can differ in cost (a ragged last piece, a core
// shared with another process), and a static split would leave one thread waiting on the other.
// An exception escaping an OpenMP region terminates the program, so the first one thrown by
// body is caught, carried out and rethrown here.
template <typename Body>
void parallel_for_each(std::int64_t count, const Body& body) {
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t i = 0; i < count; ++i) {
    try {
      body(i);
    } catch (...) {
#pragma omp critical(minidl_parallel_for_each_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// One 64-byte-aligned buffer that only ever grows. Sizes repeat from one training step to the
// next, so after the first step every request is served from what is already there.
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(ptr_); }

  void* get(std::size_t bytes) {
    if (bytes > capacity_) {
      // Grow to exactly what is asked (rounded to the alignment): the largest layer of the
      // model sets the size once, and doubling would only waste memory.
      const std::size_t rounded = (bytes + 63) / 64 * 64;
      std::free(ptr_);
      ptr_ = std::aligned_alloc(64, rounded);
      capacity_ = ptr_ ? rounded : 0;
      if (!ptr_) throw std::bad_alloc();
    }
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  std::size_t capacity_ = 0;
};

// Scratch slots of the calling thread. A kernel that needs two buffers at once takes two slots;
// thread_local keeps concurrent callers (say, two training threads) apart without a lock.
// The Dnnl* slots hold the oneDNN convolution's operands in its own layouts (conv2d_onednn.cpp),
// the Taps* slots the position-major copies of conv2d_taps.cpp, the Bf16* slots the operands a
// convolution entry point rounds for the precision policy (conv2d.cpp).
enum class Scratch {
  Columns, Gemm, Partial, DnnlIn0, DnnlIn1, DnnlOut, DnnlPad, TapsIn, TapsWeight, TapsOut, Bf16In0, Bf16In1, kCount
};

inline void* scratch_bytes(Scratch slot, std::size_t bytes) {
  static thread_local ScratchBuffer buffers[static_cast<int>(Scratch::kCount)];
  return buffers[static_cast<int>(slot)].get(bytes);
}

template <typename T>
T* scratch(Scratch slot, std::int64_t count) {
  return static_cast<T*>(scratch_bytes(slot, static_cast<std::size_t>(count) * sizeof(T)));
}

// The sum of term(x[i]) over a buffer, in double. The buffer is cut into blocks whose size
// depends on n alone, each block summed in double (vectorised), and the block sums combined
// pairwise in a fixed order. The result is thus the same for any thread count (bit-identical
// training runs depend on it), and the error grows like log(blocks) rather than n.
template <typename T, typename F>
double blocked_sum(std::int64_t n, const T* x, F term) {
  constexpr std::int64_t kMaxBlocks = 1024, kMinBlock = 4096;
  if (n <= 0) return 0.0;
  const std::int64_t block = std::max(kMinBlock, (n + kMaxBlocks - 1) / kMaxBlocks);
  const std::int64_t blocks = (n + block - 1) / block;
  double partial[kMaxBlocks];
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t bi = 0; bi < blocks; ++bi) {
    const std::int64_t begin = bi * block, end = std::min(n, begin + block);
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t i = begin; i < end; ++i) acc += term(static_cast<double>(x[i]));
    partial[bi] = acc;
  }
  for (std::int64_t width = 1; width < blocks; width *= 2)
    for (std::int64_t i = 0; i + width < blocks; i += 2 * width) partial[i] += partial[i + width];
  return partial[0];
}

}  // namespace minidl::kernels::cpu::detail
