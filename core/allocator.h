// Caching allocators. A training step asks for the same sizes every step, so freed blocks are
// kept in per-size free lists and handed out again: a steady-state step takes no memory from
// the OS (or the CUDA driver). The counters let tests prove it.
#pragma once

#include <cstddef>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "minidl/core/device.h"

namespace minidl {

struct AllocatorStats {
  std::size_t system_allocs = 0;    // blocks taken from the OS / driver
  std::size_t system_frees = 0;     // blocks given back (empty_cache, or a failed allocation's retry)
  std::size_t bytes_in_use = 0;     // held by live tensors (rounded sizes)
  std::size_t bytes_cached = 0;     // free, kept for reuse
  std::size_t peak_bytes_in_use = 0;
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* ptr, std::size_t bytes) = 0;
  virtual AllocatorStats stats() const = 0;
  // Gives every cached block back to the system.
  virtual void empty_cache() = 0;
  // Caps bytes_in_use + bytes_cached (0: no cap). Past it, allocate() first empties the cache,
  // then throws OutOfMemoryError naming the bytes asked for and in use.
  virtual void set_limit(std::size_t bytes) = 0;

  // Private pools, for CUDA graphs (core/cuda_graph.h; PyTorch's graph memory pools). A graph's
  // kernels keep the addresses they were captured with, so the memory it used must not serve
  // anything else while the graph may be replayed. Between begin_pool(id) and end_pool(), every
  // block handed out belongs to pool `id` (taken from its own free blocks, else from the shared
  // cache, else from the system), and a block of the pool that is freed goes back to the pool,
  // never to the shared cache, so only later captures into the same pool reuse it.
  // release_pool(id): the graph is gone; the pool's free blocks join the shared cache, and its
  // blocks still held by tensors join it when freed. Pool ids come from new_pool().
  virtual std::uint64_t new_pool();
  virtual void begin_pool(std::uint64_t pool);
  virtual void end_pool();
  virtual void release_pool(std::uint64_t pool);
};

// A size-bucketed caching allocator over a raw malloc/free pair (the OS, or cudaMalloc).
class CachingAllocator : public Allocator {
 public:
  // raw_alloc returns nullptr when the system has no memory left.
  using RawAlloc = std::function<void*(std::size_t)>;
  using RawFree = std::function<void(void*)>;
  CachingAllocator(const char* name, RawAlloc raw_alloc, RawFree raw_free);
  ~CachingAllocator() override;

  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) override;
  AllocatorStats stats() const override;
  void empty_cache() override;
  void set_limit(std::size_t bytes) override;
  std::uint64_t new_pool() override;
  void begin_pool(std::uint64_t pool) override;
  void end_pool() override;
  void release_pool(std::uint64_t pool) override;

  // Sizes are rounded up so that slightly different requests share blocks.
  static std::size_t round_size(std::size_t bytes);

 private:
  void release_cached_locked();
  // A block of `size` (rounded) bytes from the shared cache, else from the system.
  void* allocate_shared_locked(std::size_t bytes, std::size_t size);

  const char* name_;
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  mutable std::mutex mu_;
  std::map<std::size_t, std::vector<void*>> free_;  // rounded size -> free blocks
  // Private pools: each one's free blocks, and which pool every block handed out in one belongs to.
  struct Pool {
    std::map<std::size_t, std::vector<void*>> free;
    bool released = false;
  };
  std::map<std::uint64_t, Pool> pools_;
  std::map<void*, std::uint64_t> pool_of_;
  std::uint64_t next_pool_ = 1, active_pool_ = 0;
  AllocatorStats stats_;
  std::size_t limit_ = 0;
};

// The allocator of a device: one per process for the CPU, one per GPU.
// Each starts with the limit (see set_limit) given by the environment, read once when it is
// first used: MINIDL_CPU_MEMORY_LIMIT for the CPU, MINIDL_CUDA_MEMORY_LIMIT for every GPU
// (a byte count with an optional K, M, G or T suffix, powers of 1024: "512M", "2G"; unset,
// empty or 0: no limit). They let a user cap a shared machine's memory, and let a test drive a
// whole program into the out-of-memory path on purpose.
Allocator& allocator_for(Device device);

// What a GPU's caching allocator asks of the driver, as a table so that a test can stand in for
// it. malloc returns nullptr when the device is out of memory.
struct DeviceMemoryApi {
  int (*current_device)();
  void (*set_device)(int);
  void* (*malloc)(std::size_t);
  void (*free)(void*);
};

// The caching allocator of GPU `device` over `api`. Each raw allocation or free switches to
// `device` and then back to the device that was current, so that memory taken for one GPU never
// moves the caller's later launches and copies onto it.
std::unique_ptr<CachingAllocator> make_device_allocator(const char* name, int device, const DeviceMemoryApi& api);

// "2G" -> 2147483648: the limit variables' syntax. Throws minidl::Error naming `what` (the
// variable) for anything else.
std::size_t parse_memory_limit(const std::string& text, const char* what);
inline Allocator& cpu_allocator() { return allocator_for(Device::cpu()); }

}  // namespace minidl
