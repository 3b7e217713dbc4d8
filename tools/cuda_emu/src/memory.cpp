// Device memory of the emulated GPU, and the checks on every access a kernel makes.
//
// Device memory is one reserved range of the address space (the arena). Each cudaMalloc block
// sits between redzones; a shadow byte per 8 bytes says which bytes are allocated. Kernel files
// are compiled with gcc's kernel-address instrumentation, which calls __asan_load4_noabort(addr)
// and friends before every load and store: they look the address up in the shadow, so a read or
// write outside a live allocation (past its end, before its start, after cudaFree) is reported
// with the kernel, the thread and the element. An access outside the arena that is not the
// thread's own stack, its launch arguments or pinned host memory is a kernel reading host memory,
// which on a GPU is an illegal address. Outside the emulator's own work the arena is mapped
// PROT_NONE, so host code dereferencing a device pointer traps (signals.cpp).
//
// Freed blocks stay poisoned in a quarantine for a while before they are reused, so a kernel
// still reading a freed buffer is caught rather than reading its successor.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>

#include "internal.h"

namespace emu {

thread_local HookState g_hook;

namespace {

// Shadow values: 1..8 = the first n bytes of the granule are addressable; anything else is not.
constexpr std::uint8_t kUnallocated = 0x00, kLeftRedzone = 0xF1, kRightRedzone = 0xF2, kFreed = 0xF3,
                       kSharedRedzone = 0xF4;
constexpr std::size_t kSharedWindow = std::size_t(1) << 20;  // shared memory, at the arena's start
constexpr std::size_t kBlockShared = kSharedWindow / 2;      // the first half: each block's own
constexpr std::size_t kSharedRedzoneBytes = 64;
constexpr std::size_t kStaticSharedLimit = 48 * 1024;        // nvcc's limit for static __shared__
constexpr std::size_t kSharedLimit = 227 * 1024;             // Hopper's largest block allocation
constexpr std::size_t kAlign = 256;                          // cudaMalloc's alignment

std::uintptr_t g_base = 0;   // arena start (the shared window, then device allocations)
std::size_t g_size = 0;      // arena bytes
std::uint8_t* g_shadow = nullptr;
std::size_t g_page = 4096;

std::map<std::uintptr_t, std::size_t> g_free;                     // device region: lo -> bytes
std::map<std::uintptr_t, std::unique_ptr<Allocation>> g_allocs;  // by block start (live and quarantined)
std::deque<Allocation*> g_quarantine;
std::size_t g_quarantine_bytes = 0;
std::size_t g_in_use = 0;
std::uint64_t g_next_id = 1;
std::uintptr_t g_high_water = 0;  // end of the furthest block ever used (page aligned)
int g_access_depth = 0;
bool g_protected = false;
// New allocations get their 0xFF fill at the start of the next stretch of device work (nothing
// can look at them before), so that cudaMalloc does not have to open the arena to the host.
std::vector<std::pair<std::uintptr_t, std::size_t>> g_pending_poison;
// What a real device shows as used before any allocation (its context); only reported.
constexpr std::size_t kContextBytes = std::size_t(512) << 20;

std::uintptr_t align_up(std::uintptr_t v, std::size_t a) { return (v + a - 1) / a * a; }

void set_shadow(std::uintptr_t lo, std::uintptr_t hi, std::uint8_t v) {
  // lo and hi are 8-byte aligned
  std::memset(g_shadow + ((lo - g_base) >> 3), v, (hi - lo) >> 3);
}

void mark_addressable(std::uintptr_t base, std::size_t bytes) {
  const std::size_t full = bytes / 8, tail = bytes % 8;
  std::memset(g_shadow + ((base - g_base) >> 3), 8, full);
  if (tail) g_shadow[((base - g_base) >> 3) + full] = std::uint8_t(tail);
}

bool shadow_ok(std::uintptr_t a, std::size_t n) {
  std::uintptr_t off = a - g_base;
  const std::uintptr_t end = off + n;
  while (off < end) {
    const std::uint8_t s = g_shadow[off >> 3];
    const std::uintptr_t granule_end = (off | 7) + 1;
    const std::uintptr_t upto = std::min(granule_end, end);
    if (s == 0 || s > 8 || (upto - (off & ~std::uintptr_t(7))) > s) return false;
    off = upto;
  }
  return true;
}

void protect_arena(bool none) {
  if (!g_high_water) return;
  if (mprotect(reinterpret_cast<void*>(g_base), g_high_water - g_base, none ? PROT_NONE : PROT_READ | PROT_WRITE) != 0)
    fatal(str("mprotect of the device arena failed: %s", std::strerror(errno)));
  g_protected = none;
}

void grow_high_water(std::uintptr_t end) {
  end = align_up(end, g_page);
  if (end <= g_high_water) return;
  const std::uintptr_t old = g_high_water ? g_high_water : g_base;
  g_high_water = end;
  // New pages take the arena's current state: accessible inside DeviceAccess or with the host
  // check off, PROT_NONE otherwise.
  const bool none = g_access_depth == 0 && config().check_host;
  if (mprotect(reinterpret_cast<void*>(old), end - old, none ? PROT_NONE : PROT_READ | PROT_WRITE) != 0)
    fatal(str("mprotect of the device arena failed: %s", std::strerror(errno)));
  if (none) {
    g_protected = true;
    install_signal_handler();
  }
}

void release_range(std::uintptr_t lo, std::size_t bytes) {
  set_shadow(lo, lo + bytes, kUnallocated);
  // Give the physical pages back; the range stays reserved.
  const std::uintptr_t plo = align_up(lo, g_page), phi = (lo + bytes) / g_page * g_page;
  if (phi > plo + 16 * g_page) madvise(reinterpret_cast<void*>(plo), phi - plo, MADV_DONTNEED);
  auto it = g_free.emplace(lo, bytes).first;
  if (it != g_free.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      g_free.erase(it);
      it = prev;
    }
  }
  auto next = std::next(it);
  if (next != g_free.end() && it->first + it->second == next->first) {
    it->second += next->second;
    g_free.erase(next);
  }
}

void drain_quarantine(std::size_t keep_bytes) {
  while (!g_quarantine.empty() && g_quarantine_bytes > keep_bytes) {
    Allocation* a = g_quarantine.front();
    g_quarantine.pop_front();
    g_quarantine_bytes -= a->hi - a->lo;
    const std::uintptr_t lo = a->lo, hi = a->hi;
    g_allocs.erase(lo);
    release_range(lo, hi - lo);
  }
}

std::uintptr_t take_range(std::size_t bytes) {
  for (auto it = g_free.begin(); it != g_free.end(); ++it) {
    if (it->second < bytes) continue;
    const std::uintptr_t lo = it->first;
    const std::size_t left = it->second - bytes;
    g_free.erase(it);
    if (left) g_free.emplace(lo + bytes, left);
    return lo;
  }
  return 0;
}

std::size_t parse_size(const char* text, std::size_t fallback) {
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  std::size_t shift = 0;
  switch (end && *end ? *end : ' ') {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    case ' ': break;
    default: fatal(str("MINIDL_EMU_MEMORY='%s': expected a size such as 16G or 512M", text));
  }
  return std::size_t(v) << shift;
}

// ---- shared memory window -------------------------------------------------------------------------
struct SharedVar {
  std::uintptr_t base;
  std::size_t bytes;
  const char* name;
  const char* file;
  int line;
};
std::vector<SharedVar> g_shared_vars;
std::uintptr_t g_shared_used = 0;  // offset into the window
std::size_t g_static_shared = 0;
std::uint64_t g_block_generation = 1;
void* g_dynamic_shared = nullptr;

std::uintptr_t g_static_used = kBlockShared;  // the second half: storage kept across blocks

// Without poisoning, a __shared__ variable keeps one storage from block to block, zero at first,
// as a plain static would (what the emulator did before per-block shared memory).
void* static_shared_alloc(std::size_t bytes, std::size_t align) {
  const std::uintptr_t off = align_up(g_static_used + kSharedRedzoneBytes, std::max<std::size_t>(align, 16));
  if (off + bytes + kSharedRedzoneBytes > kSharedWindow) fatal("the emulator's static shared memory is full");
  g_static_used = off + bytes;
  mark_addressable(g_base + off, bytes);
  return reinterpret_cast<void*>(g_base + off);
}

void* shared_alloc(std::size_t bytes, std::size_t align, const char* name, const char* file, int line) {
  align = std::max<std::size_t>(align, 16);
  const std::uintptr_t off = align_up(g_shared_used + kSharedRedzoneBytes, align);
  if (off + bytes + kSharedRedzoneBytes > kBlockShared) {
    kernel_fault(cudaErrorLaunchOutOfResources,
                 str("%s: __shared__ '%s' (%zu bytes, %s:%d) does not fit in the block's shared memory",
                     current_thread_where().c_str(), name, bytes, file, line));
    return reinterpret_cast<void*>(g_base + kSharedRedzoneBytes);  // keeps the thread going until the block ends
  }
  const std::uintptr_t p = g_base + off;
  mark_addressable(p, bytes);
  std::memset(reinterpret_cast<void*>(p), 0xff, bytes);
  g_shared_used = off + bytes;
  g_shared_vars.push_back(SharedVar{p, bytes, name, file, line});
  return reinterpret_cast<void*>(p);
}

}  // namespace

void memory_init() {
  if (g_base) return;
  g_page = std::size_t(sysconf(_SC_PAGESIZE));
  const std::size_t device = align_up(parse_size(std::getenv("MINIDL_EMU_MEMORY"), std::size_t(32) << 30), 1 << 20);
  g_size = kSharedWindow + device;
  void* p = mmap(nullptr, g_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) fatal(str("cannot reserve %zu bytes of address space for device memory", g_size));
  void* s = mmap(nullptr, g_size / 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (s == MAP_FAILED) fatal("cannot reserve the device memory's shadow");
  g_shadow = static_cast<std::uint8_t*>(s);
  g_base = reinterpret_cast<std::uintptr_t>(p);
  g_free.emplace(g_base + kSharedWindow, device);
  grow_high_water(g_base + kSharedWindow);
  set_shadow(g_base, g_base + kSharedWindow, kSharedRedzone);
}

std::uintptr_t arena_lo() { return g_base; }
std::uintptr_t arena_hi() { return g_base + g_size; }
bool in_arena(const void* p) { return reinterpret_cast<std::uintptr_t>(p) - g_base < g_size; }
bool in_shared_window(std::uintptr_t a) { return a - g_base < kSharedWindow; }
std::size_t device_bytes_in_use() { return g_in_use + kContextBytes; }
std::size_t device_total_bytes() { return g_size - kSharedWindow; }

Allocation* allocation_near(std::uintptr_t a) {
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return nullptr;
  --it;
  Allocation* al = it->second.get();
  return a < al->hi ? al : nullptr;
}

Allocation* find_allocation(const void* p, std::size_t bytes) {
  const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(p);
  if (!in_arena(p)) return nullptr;
  Allocation* al = allocation_near(a);
  if (!al || al->freed || a < al->base || a + bytes > al->base + al->bytes) return nullptr;
  return al;
}

bool device_range_ok(const void* p, std::size_t bytes) { return bytes == 0 || find_allocation(p, bytes) != nullptr; }

namespace {
std::string describe_in(const Allocation* al, std::uintptr_t a, std::size_t n) {
  const long long off = (long long)(a - al->base);
  std::string what =
      str("element %lld (byte offset %lld) of device allocation #%llu (%zu bytes: %zu elements of %zu bytes)",
          n ? off / (long long)n : off, off, (unsigned long long)al->id, al->bytes, n ? al->bytes / n : 0, n);
  if (al->freed) return what + ", which cudaFree has already freed";
  if (off < 0) return what + str(", %lld bytes before its start", -off);
  if ((std::size_t)off + n > al->bytes) return what + str(", %lld bytes past its end", off - (long long)al->bytes);
  return what;
}
}  // namespace

std::string describe_device_address(std::uintptr_t a, std::size_t n) {
  if (in_shared_window(a)) {
    bool found = false;
    std::string s = describe_shared_address(a, n, &found);
    if (found) return s;
    return str("address 0x%zx in shared memory outside every __shared__ variable of this block", std::size_t(a));
  }
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return str("device address 0x%zx, which is in no allocation", std::size_t(a));
  --it;
  const Allocation* al = it->second.get();
  if (a >= al->hi) return describe_in(al, a, n) + " (in memory no allocation holds)";
  if (a >= al->base || it == g_allocs.begin()) return describe_in(al, a, n);
  // In the redzone before an allocation: as likely an overrun of the one before it.
  const Allocation* before = std::prev(it)->second.get();
  if (before->hi != al->lo) return describe_in(al, a, n);
  return describe_in(al, a, n) + "; or " + describe_in(before, a, n);
}

cudaError_t device_malloc(void** p, std::size_t bytes) {
  memory_init();
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (bytes > device_total_bytes()) return cudaErrorMemoryAllocation;
  // Redzones: 256 bytes before (cudaMalloc's alignment), a quarter of the size after (1 KiB to
  // 1 MiB), so that most overruns land in a redzone rather than in the next allocation.
  const std::size_t right = align_up(std::clamp<std::size_t>(bytes / 4, 1024, std::size_t(1) << 20), kAlign);
  const std::size_t need = kAlign + align_up(bytes, kAlign) + right;
  std::uintptr_t lo = take_range(need);
  if (!lo) {
    drain_quarantine(0);
    lo = take_range(need);
  }
  if (!lo) return cudaErrorMemoryAllocation;
  auto al = std::make_unique<Allocation>();
  al->id = g_next_id++;
  al->lo = lo;
  al->base = lo + kAlign;
  al->bytes = bytes;
  al->hi = lo + need;
  grow_high_water(al->hi);
  set_shadow(al->lo, al->base, kLeftRedzone);
  set_shadow(al->base, al->hi, kRightRedzone);
  mark_addressable(al->base, bytes);
  // Fresh device memory holds garbage on a GPU: here 0xFF bytes (NaN as float), so a kernel
  // that reads an output before writing it shows NaN.
  g_pending_poison.emplace_back(al->base, bytes);
  g_in_use += bytes;
  *p = reinterpret_cast<void*>(al->base);
  g_allocs.emplace(lo, std::move(al));
  return cudaSuccess;
}

cudaError_t device_free(void* p) {
  if (!p) return cudaSuccess;
  Allocation* al = in_arena(p) ? allocation_near(reinterpret_cast<std::uintptr_t>(p)) : nullptr;
  if (!al || al->base != reinterpret_cast<std::uintptr_t>(p)) {
    set_last_error(cudaErrorInvalidValue,
                   str("cudaFree(%p): not a pointer cudaMalloc returned", p));
    return cudaErrorInvalidValue;
  }
  if (al->freed) {
    set_last_error(cudaErrorInvalidValue, str("cudaFree(%p): allocation #%llu freed twice", p,
                                              (unsigned long long)al->id));
    return cudaErrorInvalidValue;
  }
  al->freed = true;
  al->uses.clear();
  g_in_use -= al->bytes;
  set_shadow(al->base, align_up(al->base + al->bytes, 8), kFreed);
  for (auto it = g_pending_poison.begin(); it != g_pending_poison.end(); ++it)
    if (it->first == al->base) {
      g_pending_poison.erase(it);
      break;
    }
  // The shadow alone keeps the block poisoned in quarantine: its pages can go back now.
  const std::uintptr_t plo = align_up(al->lo, g_page), phi = al->hi / g_page * g_page;
  if (phi > plo) madvise(reinterpret_cast<void*>(plo), phi - plo, MADV_DONTNEED);
  g_quarantine.push_back(al);
  g_quarantine_bytes += al->hi - al->lo;
  drain_quarantine(std::min<std::size_t>(std::size_t(256) << 20, device_total_bytes() / 4));
  return cudaSuccess;
}

DeviceAccess::DeviceAccess() {
  memory_init();
  if (g_access_depth++ != 0) return;
  if (g_protected) protect_arena(false);
  for (const auto& [base, bytes] : g_pending_poison) std::memset(reinterpret_cast<void*>(base), 0xff, bytes);
  g_pending_poison.clear();
}

DeviceAccess::~DeviceAccess() {
  if (--g_access_depth == 0 && config().check_host) {
    install_signal_handler();  // about to rely on it again
    protect_arena(true);
  }
}

void apply_host_check() {
  memory_init();
  if (g_access_depth) return;
  const bool want = config().check_host;
  if (want != g_protected) protect_arena(want);
  if (want) install_signal_handler();
}

// ---- shared memory ------------------------------------------------------------------------------

void shared_begin_block(std::size_t dynamic_bytes) {
  ++g_block_generation;
  g_static_shared = 0;
  g_dynamic_shared = nullptr;
  if (g_shared_used) set_shadow(g_base, align_up(g_base + g_shared_used + kSharedRedzoneBytes, 8), kSharedRedzone);
  g_shared_used = 0;
  g_shared_vars.clear();
  if (dynamic_bytes) g_dynamic_shared = shared_alloc(dynamic_bytes, 16, "extern __shared__ (dynamic)", "launch", 0);
}

void* SharedSlot::get(std::size_t bytes, std::size_t align) {
  if (!config().poison_shared) {
    if (!static_ptr_) static_ptr_ = static_shared_alloc(bytes, align);
    return static_ptr_;
  }
  if (ptr_ && generation_ == g_block_generation) return ptr_;
  ptr_ = shared_alloc(bytes, align, name_, file_, line_);
  generation_ = g_block_generation;
  g_static_shared += bytes;
  if (g_static_shared > kStaticSharedLimit)
    kernel_fault(cudaErrorLaunchOutOfResources,
                 str("%s uses %zu bytes of static __shared__ memory (with '%s' at %s:%d); nvcc allows 48 KiB",
                     current_thread_where().c_str(), g_static_shared, name_, file_, line_));
  else if (g_shared_used > kSharedLimit)
    kernel_fault(cudaErrorLaunchOutOfResources,
                 str("%s uses %zu bytes of shared memory; a block may have 227 KiB", current_thread_where().c_str(),
                     std::size_t(g_shared_used)));
  return ptr_;
}

void* dynamic_shared() { return g_dynamic_shared; }

std::string describe_shared_address(std::uintptr_t a, std::size_t n, bool* found) {
  const SharedVar* best = nullptr;
  long long best_dist = 0;
  for (const SharedVar& v : g_shared_vars) {
    const long long d = a < v.base ? (long long)(v.base - a) : (a >= v.base + v.bytes ? (long long)(a - v.base - v.bytes + 1) : 0);
    if (!best || d < best_dist) {
      best = &v;
      best_dist = d;
    }
  }
  *found = best != nullptr;
  if (!best) return "";
  const long long off = (long long)(a - best->base);
  std::string s = str("element %lld (byte offset %lld) of __shared__ '%s' (%zu bytes, %s:%d)",
                      n ? off / (long long)n : off, off, best->name, best->bytes, best->file, best->line);
  if (off < 0) return s + str(", %lld bytes before its start", -off);
  if ((std::size_t)off + n > best->bytes) return s + str(", %lld bytes past its end", off - (long long)best->bytes);
  return s;
}

// ---- pinned host memory -----------------------------------------------------------------------------
namespace {
struct Pinned {
  std::uintptr_t base;
  std::size_t bytes, mapped;
  std::vector<PinnedUse> uses;
};
std::map<std::uintptr_t, Pinned> g_pinned;
char g_violation[2048];
volatile bool g_violation_pending = false;

Pinned* pinned_at(std::uintptr_t a) {
  auto it = g_pinned.upper_bound(a);
  if (it == g_pinned.begin()) return nullptr;
  --it;
  return a < it->second.base + it->second.mapped ? &it->second : nullptr;
}

void protect_pinned(Pinned& pa) {
  if (!config().check_host) return;
  const std::size_t pages = pa.mapped / g_page;
  std::size_t i = 0;
  while (i < pages) {
    const std::uintptr_t plo = pa.base + i * g_page;
    int prot = PROT_READ | PROT_WRITE;
    for (const PinnedUse& u : pa.uses)
      if (u.lo < plo + g_page && u.hi > plo) prot = u.host_reads ? PROT_NONE : (prot & ~PROT_WRITE);
    std::size_t j = i + 1;
    while (j < pages) {
      const std::uintptr_t q = pa.base + j * g_page;
      int prot_j = PROT_READ | PROT_WRITE;
      for (const PinnedUse& u : pa.uses)
        if (u.lo < q + g_page && u.hi > q) prot_j = u.host_reads ? PROT_NONE : (prot_j & ~PROT_WRITE);
      if (prot_j != prot) break;
      ++j;
    }
    mprotect(reinterpret_cast<void*>(plo), (j - i) * g_page, prot);
    i = j;
  }
}
}  // namespace

cudaError_t pinned_malloc(void** p, std::size_t bytes) {
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  const std::size_t mapped = align_up(bytes, g_page);
  void* m = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return cudaErrorMemoryAllocation;
  g_pinned[reinterpret_cast<std::uintptr_t>(m)] = Pinned{reinterpret_cast<std::uintptr_t>(m), bytes, mapped, {}};
  *p = m;
  return cudaSuccess;
}

cudaError_t pinned_free(void* p) {
  if (!p) return cudaSuccess;
  auto it = g_pinned.find(reinterpret_cast<std::uintptr_t>(p));
  if (it == g_pinned.end()) {
    set_last_error(cudaErrorInvalidValue, str("cudaFreeHost(%p): not a pointer cudaMallocHost returned", p));
    return cudaErrorInvalidValue;
  }
  munmap(p, it->second.mapped);
  g_pinned.erase(it);
  return cudaSuccess;
}

bool is_pinned(const void* p, std::size_t bytes) {
  const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(p);
  Pinned* pa = pinned_at(a);
  return pa && a + bytes <= pa->base + pa->bytes;
}

void pinned_use(const PinnedUse& use, bool add) {
  Pinned* pa = pinned_at(use.lo);
  if (!pa) return;
  if (add) install_signal_handler();
  if (add) {
    pa->uses.push_back(use);
  } else {
    for (auto it = pa->uses.begin(); it != pa->uses.end(); ++it)
      if (it->lo == use.lo && it->hi == use.hi && it->host_reads == use.host_reads && it->what == use.what) {
        pa->uses.erase(it);
        break;
      }
  }
  protect_pinned(*pa);
}

bool pinned_fault(std::uintptr_t a) {
  Pinned* pa = pinned_at(a);
  if (!pa) return false;
  if (!g_violation_pending) {
    for (const PinnedUse& u : pa->uses)
      if (a >= u.lo && a < u.hi) {
        std::snprintf(g_violation, sizeof g_violation,
                      "the host %s byte %zu of a pinned buffer (cudaMallocHost, %zu bytes) while %s still "
                      "uses it: synchronise the stream (or wait on an event) first",
                      u.host_reads ? "read or wrote" : "wrote", std::size_t(a - pa->base), pa->bytes, u.what.c_str());
        g_violation_pending = true;
        break;
      }
  }
  // Let the access through (it reads the poison the copy has not yet replaced), and leave the
  // page open until the copy runs.
  const std::uintptr_t page = a / g_page * g_page;
  mprotect(reinterpret_cast<void*>(page), g_page, PROT_READ | PROT_WRITE);
  return true;
}

void report_pinned_violation() {
  if (!g_violation_pending) return;
  g_violation_pending = false;
  set_sticky_error(cudaErrorUnknown, g_violation);
}

}  // namespace emu

// ---- the instrumentation's callbacks ----------------------------------------------------------------
namespace emu {
bool g_check_memory = true;  // Settings::check_memory, read on every access
namespace {

__attribute__((noinline)) void arena_violation(std::uintptr_t a, std::size_t n, bool write) {
  if (shadow_ok(a, n) || !g_check_memory) return;
  if (g_hook.in_kernel) {
    kernel_fault(cudaErrorIllegalAddress,
                 str("out-of-bounds %s of %zu bytes in %s: %s", write ? "write" : "read", n,
                     current_thread_where().c_str(), describe_device_address(a, n).c_str()));
  } else {
    fatal(str("host code %s %zu bytes of device memory: %s (a device pointer dereferenced on the host)",
              write ? "wrote" : "read", n, describe_device_address(a, n).c_str()));
  }
}

__attribute__((noinline)) void host_access(std::uintptr_t a, std::size_t n, bool write) {
  if (!g_check_memory || is_pinned(reinterpret_cast<const void*>(a), n)) return;
  kernel_fault(cudaErrorIllegalAddress,
               str("%s %s %zu bytes of host memory at %p, which is neither device memory nor pinned host memory "
                   "(a host pointer passed to a kernel?)",
                   current_thread_where().c_str(), write ? "wrote" : "read", n, reinterpret_cast<void*>(a)));
}

// Every load and store of a kernel file comes here first: a range check and a shadow byte or two.
__attribute__((always_inline)) inline void check_access(std::uintptr_t a, std::size_t n, bool write) {
  const std::uintptr_t off = a - g_base;
  if (__builtin_expect(off < g_size, 1)) {
    const unsigned in = unsigned(off & 7);
    const std::uint8_t* sh = g_shadow + (off >> 3);
    if (__builtin_expect(in + n <= 8, 1)) {
      const unsigned s = sh[0];
      if (__builtin_expect(s - 1u < 8u && in + n <= s, 1)) return;
    } else if (in == 0 && n == 16 && sh[0] == 8 && sh[1] == 8) {
      return;
    }
    arena_violation(a, n, write);
    return;
  }
  const HookState& h = g_hook;
  if (!h.in_kernel || a - h.stack_lo < h.stack_size || a - h.args_lo < h.args_size) return;
  host_access(a, n, write);
}

}  // namespace
}  // namespace emu

using emu::check_access;

extern "C" {
#define EMU_ACCESS_HOOKS(n)                                                                          \
  void __asan_load##n##_noabort(std::uintptr_t a) { check_access(a, n, false); }                     \
  void __asan_store##n##_noabort(std::uintptr_t a) { check_access(a, n, true); }                     \
  void __asan_load##n(std::uintptr_t a) { check_access(a, n, false); }                               \
  void __asan_store##n(std::uintptr_t a) { check_access(a, n, true); }
EMU_ACCESS_HOOKS(1)
EMU_ACCESS_HOOKS(2)
EMU_ACCESS_HOOKS(4)
EMU_ACCESS_HOOKS(8)
EMU_ACCESS_HOOKS(16)
#undef EMU_ACCESS_HOOKS
void __asan_loadN_noabort(std::uintptr_t a, std::size_t n) { check_access(a, n, false); }
void __asan_storeN_noabort(std::uintptr_t a, std::size_t n) { check_access(a, n, true); }
void __asan_loadN(std::uintptr_t a, std::size_t n) { check_access(a, n, false); }
void __asan_storeN(std::uintptr_t a, std::size_t n) { check_access(a, n, true); }
void __asan_handle_no_return() {}
}
