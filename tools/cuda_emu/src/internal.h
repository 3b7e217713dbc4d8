// Shared by the emulator's sources; not seen by emulated code.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_emu/emulator.h"
#include "cuda_runtime.h"

namespace emu {

// ---- settings and errors (runtime_api.cpp) ----------------------------------------------------
Settings& config();  // read from the environment on first use
std::recursive_mutex& api_mutex();
std::string str(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void fatal(const std::string& message);
// A failure of device work (a kernel fault, a race between streams, a host access to a buffer
// in flight): every later call returns it, as a GPU's sticky errors do, until clear_error().
void set_sticky_error(cudaError_t code, const std::string& message);
cudaError_t sticky_error();
// A failure of one call (bad launch configuration): returned once by cudaGetLastError.
void set_last_error(cudaError_t code, const std::string& message);

// ---- memory (memory.cpp) -------------------------------------------------------------------------
struct Allocation {
  std::uint64_t id = 0;
  std::uintptr_t base = 0;  // what cudaMalloc returned
  std::size_t bytes = 0;
  std::uintptr_t lo = 0, hi = 0;  // the block with its redzones
  bool freed = false;
  // Race detection (streams.cpp): per stream, the clock of its last read and last write.
  struct Use {
    std::uint64_t read = 0, write = 0;
    std::string reader, writer;
  };
  std::vector<Use> uses;
};

void memory_init();
std::uintptr_t arena_lo();
std::uintptr_t arena_hi();
// The live allocation holding [p, p + bytes), or nullptr.
Allocation* find_allocation(const void* p, std::size_t bytes = 1);
// The live or freed allocation whose block holds address a, or nullptr.
Allocation* allocation_near(std::uintptr_t a);
std::string describe_device_address(std::uintptr_t a, std::size_t access_bytes);
cudaError_t device_malloc(void** p, std::size_t bytes);
cudaError_t device_free(void* p);
std::size_t device_bytes_in_use();
std::size_t device_total_bytes();
bool in_arena(const void* p);
// True when every byte of [p, p + bytes) belongs to a live allocation.
bool device_range_ok(const void* p, std::size_t bytes);

// The host may touch device memory only inside this scope (the emulator's own copies and
// kernels); outside it the arena is mapped PROT_NONE, so a host dereference of a device pointer
// traps (signals.cpp) as it would crash on a GPU system.
class DeviceAccess {
 public:
  DeviceAccess();
  ~DeviceAccess();
  DeviceAccess(const DeviceAccess&) = delete;
  DeviceAccess& operator=(const DeviceAccess&) = delete;
};

// After a change of Settings::check_host: the arena open to the host, or closed.
void apply_host_check();

// Page-locked host memory (cudaMallocHost): its own mappings, so that the pages of a buffer an
// asynchronous copy still uses can be protected against the host.
struct PinnedUse {
  std::uintptr_t lo, hi;
  bool host_reads;  // true: the copy writes these bytes (device to host); the host must not read them
  std::string what;
};
cudaError_t pinned_malloc(void** p, std::size_t bytes);
cudaError_t pinned_free(void* p);
bool is_pinned(const void* p, std::size_t bytes);
// Registers/unregisters a queued copy's use of pinned bytes and updates the pages' protection.
void pinned_use(const PinnedUse& use, bool add);
// From the SIGSEGV handler: true if the fault was on a protected pinned page (now unprotected;
// a violation is recorded when the address lies in a queued copy's bytes).
bool pinned_fault(std::uintptr_t a);
// Reported by the next runtime call: a host access to a buffer an in-flight copy uses.
void report_pinned_violation();

// Shared memory of the block about to run: resets the per-block window (poison, redzones)
// and allocates the launch's dynamic shared memory.
void shared_begin_block(std::size_t dynamic_bytes);
std::string describe_shared_address(std::uintptr_t a, std::size_t access_bytes, bool* found);
bool in_shared_window(std::uintptr_t a);

// The memory checker's view of the running kernel thread (thread-local, read on every access).
struct HookState {
  bool in_kernel = false;
  std::uintptr_t stack_lo = 0, stack_size = 0;  // the running fiber's stack
  std::uintptr_t args_lo = 0, args_size = 0;    // the launch's argument block
};
extern thread_local HookState g_hook __attribute__((tls_model("initial-exec")));
extern bool g_check_memory;  // Settings::check_memory

// ---- kernels (scheduler.cpp) ------------------------------------------------------------------
// Runs every block of the launch; returns cudaSuccess or the failure (with set_sticky_error done).
cudaError_t run_kernel(const KernelLaunch& launch);
// "kernel `name` (block (x,y,z), thread (x,y,z))" for the thread running now.
std::string current_thread_where();
// Records the first fault of the running kernel (the kernel goes on to the end of the block,
// then stops and reports it).
void kernel_fault(cudaError_t code, const std::string& message);
bool in_fiber_guard(std::uintptr_t a, std::string* where);
bool executing_kernel();
// The random order's sequence starts again (new settings): the same seed, the same orders.
void restart_order();

// ---- streams (streams.cpp) ----------------------------------------------------------------------
struct Access {
  const void* ptr;
  std::size_t bytes;  // 0: the whole allocation holding ptr
  bool write;
};
// Queues `run` on `stream` with the device memory it touches; runs it now when not async.
// `at_issue` runs when the work is queued (each time, for work recorded into a graph and
// launched again): what the call does to host memory at once, such as a device-to-host copy's
// poisoning of its destination.
cudaError_t enqueue(cudaStream_t stream, std::string name, std::vector<Access> accesses,
                    std::vector<PinnedUse> pinned, std::function<cudaError_t()> run,
                    std::function<void()> at_issue = {});
cudaError_t synchronize_stream(cudaStream_t stream);
cudaError_t synchronize_device();
bool valid_stream(cudaStream_t stream);

void install_signal_handler();

// ---- stream capture and graphs (graphs.cpp) ----------------------------------------------------
// One piece of work as enqueue() was given it: a graph holds these and issues them again.
struct GraphNode {
  std::string name;
  std::vector<Access> accesses;
  std::vector<PinnedUse> pinned;
  std::function<cudaError_t()> run;
  std::function<void()> at_issue;
};
enum class CaptureAction { Queue, Recorded, Refused };
// What enqueue() does with work issued to stream `stream` (an index): queue it, or it was recorded
// into the stream's capture, or refused (*error set, and set_last_error done): work on an
// invalidated capture, or on the legacy default stream while a blocking stream captures.
CaptureAction capture_enqueue(int stream, const GraphNode& node, cudaError_t* error);
// The id of the capture stream `stream` is in (0: none).
std::uint64_t capture_id(int stream);
bool capture_active(std::uint64_t id);
// cudaStreamWaitEvent(stream, an event recorded in capture `event_capture`, 0 if none): an error
// when the wait would tie two captures or a capture and outside work together (not modelled).
cudaError_t capture_wait_event(int stream, std::uint64_t event_capture);
// A call the driver prohibits during a capture: `stream` >= 0, a wait for that stream;
// kNoStream, a potentially unsafe call (cudaMalloc, a blocking copy); kEveryStream, a wait for
// every stream (cudaDeviceSynchronize), both at once. Returns cudaSuccess when allowed; otherwise
// invalidates the captures it conflicts with, sets the last error naming `call`, and returns
// cudaErrorStreamCaptureUnsupported.
constexpr int kNoStream = -1, kEveryStream = -2;
cudaError_t capture_forbids(const char* call, int stream);
// The index of a valid stream handle (0 for the legacy default stream), -1 when invalid.
int stream_index(cudaStream_t stream);
bool stream_blocking(int stream);

}  // namespace emu
