#include "minidl/core/allocator.h"

#include <cctype>
#include <cstdlib>
#include <limits>
#include <memory>
#include <utility>

#include "minidl/base/error.h"
#include "minidl/config.h"
#if MINIDL_WITH_CUDA
#include "minidl/kernels/runtime.h"
#endif

namespace minidl {

namespace {
constexpr std::size_t kAlignment = 64;  // a cache line, and enough for AVX-512 loads

void* cpu_raw_alloc(std::size_t bytes) { return std::aligned_alloc(kAlignment, bytes); }
void cpu_raw_free(void* p) { std::free(p); }

std::string mib(std::size_t bytes) { return detail::str(bytes / (1024.0 * 1024.0), " MiB"); }
}  // namespace

CachingAllocator::CachingAllocator(const char* name, RawAlloc raw_alloc, RawFree raw_free)
    : name_(name), raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

std::uint64_t Allocator::new_pool() { MINIDL_FAIL("this allocator has no private pools (CUDA graphs)"); }
void Allocator::begin_pool(std::uint64_t) { MINIDL_FAIL("this allocator has no private pools (CUDA graphs)"); }
void Allocator::end_pool() {}
void Allocator::release_pool(std::uint64_t) {}

std::size_t CachingAllocator::round_size(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= 4096) return (bytes + 511) / 512 * 512;
  // Above 4 KiB: round to a quarter of the enclosing power of two (at most 25% waste).
  std::size_t pow2 = 4096;
  while (pow2 < bytes) pow2 <<= 1;
  const std::size_t step = pow2 / 8;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(std::size_t bytes) {
  const std::size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (active_pool_) {
    // Capturing into a pool: its own free blocks first.
    auto& blocks = pools_[active_pool_].free[size];
    if (!blocks.empty()) {
      void* p = blocks.back();
      blocks.pop_back();
      stats_.bytes_cached -= size;
      stats_.bytes_in_use += size;
      if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
      return p;
    }
  }
  void* p = allocate_shared_locked(bytes, size);
  if (active_pool_) pool_of_[p] = active_pool_;  // the block now belongs to the pool
  return p;
}

void* CachingAllocator::allocate_shared_locked(std::size_t bytes, std::size_t size) {
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    stats_.bytes_cached -= size;
    stats_.bytes_in_use += size;
    if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
    return p;
  }
  if (limit_ && stats_.bytes_in_use + stats_.bytes_cached + size > limit_) release_cached_locked();
  if (limit_ && stats_.bytes_in_use + size > limit_)
    throw OutOfMemoryError(detail::str(name_, " out of memory: tried to allocate ", bytes, " bytes (", mib(bytes),
                                       ") with ", stats_.bytes_in_use, " bytes (", mib(stats_.bytes_in_use),
                                       ") in use and a limit of ", limit_, " bytes; try a smaller batch size"),
                           bytes, stats_.bytes_in_use);
  void* p = raw_alloc_(size);
  if (!p) {
    // The cache may hold the memory we need in blocks of other sizes: give it back and retry.
    release_cached_locked();
    p = raw_alloc_(size);
  }
  if (!p)
    throw OutOfMemoryError(detail::str(name_, " out of memory: tried to allocate ", bytes, " bytes (", mib(bytes),
                                       ") with ", stats_.bytes_in_use, " bytes in use; try a smaller batch size"),
                           bytes, stats_.bytes_in_use);
  ++stats_.system_allocs;
  stats_.bytes_in_use += size;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return p;
}

void CachingAllocator::deallocate(void* ptr, std::size_t bytes) {
  if (!ptr) return;
  const std::size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  auto owner = pool_of_.find(ptr);
  if (owner != pool_of_.end()) {
    Pool& pool = pools_[owner->second];
    if (!pool.released) {
      // A graph may still write here when replayed: only its own captures reuse the block.
      pool.free[size].push_back(ptr);
      stats_.bytes_in_use -= size;
      stats_.bytes_cached += size;
      return;
    }
    pool_of_.erase(owner);
  }
  free_[size].push_back(ptr);
  stats_.bytes_in_use -= size;
  stats_.bytes_cached += size;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

void CachingAllocator::set_limit(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  limit_ = bytes;
}

std::uint64_t CachingAllocator::new_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  const std::uint64_t id = next_pool_++;
  pools_[id];
  return id;
}

void CachingAllocator::begin_pool(std::uint64_t pool) {
  std::lock_guard<std::mutex> lock(mu_);
  MINIDL_CHECK(pools_.count(pool) && !pools_[pool].released, name_, " allocator: begin_pool(", pool,
               "): no such pool (new_pool() makes one; a released pool cannot be used again)");
  MINIDL_CHECK(active_pool_ == 0, name_, " allocator: begin_pool(", pool, ") while pool ", active_pool_,
               " is in use (one capture at a time)");
  active_pool_ = pool;
}

void CachingAllocator::end_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  active_pool_ = 0;
}

void CachingAllocator::release_pool(std::uint64_t pool) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pools_.find(pool);
  if (it == pools_.end()) return;
  if (active_pool_ == pool) active_pool_ = 0;
  for (auto& [size, blocks] : it->second.free)
    for (void* p : blocks) {
      pool_of_.erase(p);
      free_[size].push_back(p);
    }
  it->second.free.clear();
  it->second.released = true;
}

void CachingAllocator::release_cached_locked() {
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) {
      raw_free_(p);
      ++stats_.system_frees;
    }
    stats_.bytes_cached -= size * blocks.size();
    blocks.clear();
  }
}

namespace {
// Switches to `device` for a scope and restores the previous one, on every path out.
class ScopedDevice {
 public:
  ScopedDevice(const DeviceMemoryApi& api, int device) : api_(api), previous_(api.current_device()) {
    if (previous_ != device) api_.set_device(device);
    switched_ = previous_ != device;
  }
  ~ScopedDevice() {
    if (switched_) api_.set_device(previous_);
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  const DeviceMemoryApi& api_;
  int previous_;
  bool switched_ = false;
};
}  // namespace

std::unique_ptr<CachingAllocator> make_device_allocator(const char* name, int device, const DeviceMemoryApi& api) {
  return std::make_unique<CachingAllocator>(
      name,
      [api, device](std::size_t bytes) {
        ScopedDevice on(api, device);
        return api.malloc(bytes);
      },
      [api, device](void* p) {
        ScopedDevice on(api, device);
        api.free(p);
      });
}

std::size_t parse_memory_limit(const std::string& text, const char* what) {
  auto bad = [&]() {
    MINIDL_FAIL(what, "='", text, "': expected a memory size in bytes, optionally with a K, M, G or T suffix ",
                "(powers of 1024), such as 2G, 512M or 1000000; 0 or empty means no limit");
  };
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i == text.size()) return 0;
  std::size_t value = 0;
  const std::size_t digits_start = i;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    const std::size_t d = static_cast<std::size_t>(text[i] - '0');
    if (value > (std::numeric_limits<std::size_t>::max() - d) / 10) bad();
    value = value * 10 + d;
  }
  if (i == digits_start) bad();
  int shift = 0;
  if (i < text.size()) {
    switch (std::toupper(static_cast<unsigned char>(text[i]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: bad();
    }
    ++i;
    if (i < text.size() && (text[i] == 'i' || text[i] == 'I')) ++i;  // "2GiB" too
    if (i < text.size() && (text[i] == 'b' || text[i] == 'B')) ++i;
  }
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i != text.size()) bad();
  if (shift && value > (std::numeric_limits<std::size_t>::max() >> shift)) bad();
  return value << shift;
}

namespace {

std::size_t limit_from_env(const char* name) {
  const char* v = std::getenv(name);
  return v ? parse_memory_limit(v, name) : 0;
}

CachingAllocator* with_env_limit(CachingAllocator* a, const char* env_name) {
  std::unique_ptr<CachingAllocator> owner(a);
  a->set_limit(limit_from_env(env_name));  // a bad value throws here, and again on the next call
  return owner.release();
}

#if MINIDL_WITH_CUDA
constexpr int kMaxDevices = 8;
const DeviceMemoryApi kCudaMemory{
    &kernels::cuda::current_device, &kernels::cuda::set_device,
    [](std::size_t bytes) -> void* {
      try {
        return kernels::cuda::malloc(bytes);
      } catch (const OutOfMemoryError&) {
        return nullptr;  // lets the caching allocator free its cache and retry, then report
      }
    },
    &kernels::cuda::free};
#endif
}  // namespace

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) {
    // Never destroyed: tensors in static objects may be freed after main returns.
    static CachingAllocator* cpu =
        with_env_limit(new CachingAllocator("CPU", &cpu_raw_alloc, &cpu_raw_free), "MINIDL_CPU_MEMORY_LIMIT");
    return *cpu;
  }
  check_device_available(device);  // "no GPU" in words, before the driver says it in codes
#if MINIDL_WITH_CUDA
  MINIDL_CHECK(device.index >= 0 && device.index < kMaxDevices, "no CUDA device ", device.index);
  // Never destroyed either: the driver may be torn down before static destructors run.
  static CachingAllocator* gpus[kMaxDevices] = {};
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto& a = gpus[device.index];
  if (!a)
    a = with_env_limit(make_device_allocator("CUDA", device.index, kCudaMemory).release(), "MINIDL_CUDA_MEMORY_LIMIT");
  return *a;
#else
  MINIDL_FAIL("unreachable: check_device_available accepts no GPU in a CPU-only build");
#endif
}

}  // namespace minidl
