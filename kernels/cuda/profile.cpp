// The GPU op profiler (profile.h): a pair of CUDA events per counted call, from a pool per
// device, summed when totals() is asked for.
#include "minidl/kernels/cuda_profile.h"

#include <cuda_runtime.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "minidl/kernels/cuda/check.h"
#include "minidl/kernels/cuda/context.h"

namespace minidl::kernels::cuda::profile {

namespace {

struct Record {
  std::string name;  // a copy: an op outside the library may name itself with a temporary
  int device;
  cudaEvent_t start, stop;
  bool complete;  // the stop event was recorded
};

std::atomic<bool> g_on{false};
std::mutex g_mu;
std::vector<Record> g_records;
std::map<int, std::vector<cudaEvent_t>> g_pool;  // unused events, per device
long g_generation = 0;                             // reset() counts up
thread_local int t_depth = 0;

// An event of the current device (with timing), from the pool or new; null if the runtime
// refuses one. Called with g_mu held.
cudaEvent_t take_event(int device) {
  std::vector<cudaEvent_t>& free = g_pool[device];
  if (!free.empty()) {
    const cudaEvent_t e = free.back();
    free.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  if (cudaEventCreate(&e) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return e;
}

// The profiler never throws: an error of the runtime is the op's to report, so a call it cannot
// time is simply not counted.
bool capturing(cudaStream_t s) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(s, &status) != cudaSuccess) {
    cudaGetLastError();
    return true;  // do not time what we cannot tell about
  }
  return status != cudaStreamCaptureStatusNone;
}

}  // namespace

void enable(bool on) { g_on.store(on, std::memory_order_relaxed); }
bool enabled() { return g_on.load(std::memory_order_relaxed); }

void reset() {
  std::lock_guard<std::mutex> lock(g_mu);
  for (const Record& r : g_records) {
    g_pool[r.device].push_back(r.start);
    g_pool[r.device].push_back(r.stop);
  }
  g_records.clear();
  ++g_generation;
}

std::vector<Total> totals() {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<Total> out;
  std::map<std::string, std::size_t> index;
  for (const Record& r : g_records) {
    if (!r.complete) continue;  // a scope still open on another thread
    detail::DeviceGuard guard(r.device);
    CUDA_CHECK(cudaEventSynchronize(r.stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, r.start, r.stop));
    const auto [it, added] = index.emplace(r.name, out.size());
    if (added) out.push_back(Total{r.name});
    Total& t = out[it->second];
    t.gpu_s += ms * 1e-3;
    ++t.calls;
  }
  return out;
}

Scope::Scope(const char* name, Stream stream) : stream_(stream) {
  if (!enabled()) return;
  counted_ = true;
  if (t_depth++ > 0 || capturing(stream.handle)) return;  // inside another op, or in a capture
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  Record r{name, device, take_event(device), take_event(device), false};
  if (r.start && r.stop && cudaEventRecord(r.start, stream.handle) == cudaSuccess) {
    slot_ = static_cast<int>(g_records.size());
    generation_ = g_generation;
    g_records.push_back(r);
    return;
  }
  cudaGetLastError();
  for (cudaEvent_t e : {r.start, r.stop})
    if (e) g_pool[device].push_back(e);
}

Scope::~Scope() {
  if (!counted_) return;
  --t_depth;
  if (slot_ < 0) return;
  std::lock_guard<std::mutex> lock(g_mu);
  if (generation_ != g_generation) return;  // reset() ran meanwhile and forgot this call
  Record& r = g_records[static_cast<std::size_t>(slot_)];
  if (cudaEventRecord(r.stop, stream_.handle) == cudaSuccess)
    r.complete = true;
  else
    cudaGetLastError();
}

}  // namespace minidl::kernels::cuda::profile
