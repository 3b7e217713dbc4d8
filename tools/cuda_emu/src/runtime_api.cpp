// The CUDA runtime API of the emulated device (declared in include/cuda_runtime.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

#include "internal.h"

cudaError_t emu_stream_create(cudaStream_t* out, unsigned flags);
cudaError_t emu_stream_destroy(cudaStream_t stream);
cudaError_t emu_stream_wait_event(cudaStream_t stream, cudaEvent_t event);
cudaError_t emu_stream_query(cudaStream_t stream);
cudaError_t emu_event_create(cudaEvent_t* out);
cudaError_t emu_event_destroy(cudaEvent_t event);
cudaError_t emu_event_record(cudaEvent_t event, cudaStream_t stream);
cudaError_t emu_event_synchronize(cudaEvent_t event);
cudaError_t emu_event_elapsed(float* ms, cudaEvent_t a, cudaEvent_t b);

namespace emu {

namespace {

cudaError_t g_sticky = cudaSuccess;
std::string g_sticky_message;
thread_local cudaError_t t_last = cudaSuccess;
thread_local std::string t_last_message;  // kept after cudaGetLastError clears the code
thread_local cudaError_t t_last_message_code = cudaSuccess;
thread_local std::string t_error_text;
int g_device_count = -1;
std::map<const void*, int> g_max_dynamic_smem;

Order parse_order(const char* v) {
  if (!v || !*v || !std::strcmp(v, "random")) return Order::Random;
  if (!std::strcmp(v, "forward")) return Order::Forward;
  if (!std::strcmp(v, "reverse")) return Order::Reverse;
  fatal(str("MINIDL_EMU_ORDER='%s': expected random, forward or reverse", v));
}

void write_log_at_exit() {
  const char* path = std::getenv("MINIDL_EMU_LOG");
  if (!path || !*path) return;
  // Who ran them: the program and its arguments (under CTest, the test's name).
  std::ifstream cmdline("/proc/self/cmdline");
  std::string who, arg;
  while (std::getline(cmdline, arg, '\0')) who += (who.empty() ? "" : " ") + arg;
  for (char& c : who)
    if (c == '\t' || c == '\n') c = ' ';
  std::ofstream out(path, std::ios::app);
  // kernel, launches, blocks, threads, largest grid x, y, z, largest block, seconds of emulation, who
  for (const KernelStats& s : kernel_stats())
    out << s.name << '\t' << s.launches << '\t' << s.blocks << '\t' << s.threads << '\t' << s.max_grid[0] << '\t'
        << s.max_grid[1] << '\t' << s.max_grid[2] << '\t' << s.max_block << '\t' << s.seconds << '\t' << who << '\n';
}

// Every API call: the lock, the emulator set up, a pending host violation turned into the
// sticky error.
struct Call {
  std::lock_guard<std::recursive_mutex> lock{api_mutex()};
  Call() {
    config();
    memory_init();
    install_signal_handler();  // Catch2 puts its own in at every test case
    report_pinned_violation();
  }
};

cudaError_t fail(cudaError_t code, const std::string& message) {
  set_last_error(code, message);
  return code;
}

int device_count() {
  if (g_device_count < 0) {
    const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
    // As with the driver: unset means every device, an empty list (or one starting with -1 or
    // a non-number) none. The emulator has one device, numbered 0.
    g_device_count = (!v || (*v && *v != '-' && (std::isdigit(static_cast<unsigned char>(*v)) || *v == 'G'))) ? 1 : 0;
  }
  return g_device_count;
}

bool is_device(const void* p) { return in_arena(p); }

}  // namespace

Settings& config() {
  static Settings* s = [] {
    auto* c = new Settings();
    c->order = parse_order(std::getenv("MINIDL_EMU_ORDER"));
    if (const char* seed = std::getenv("MINIDL_EMU_SEED"); seed && *seed) {
      c->seed = std::strtoull(seed, nullptr, 10);
    } else {
      c->seed = std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^ std::uint64_t(getpid());
      if (c->order == Order::Random)
        std::fprintf(stderr, "cuda_emu: threads run in random order, seed %llu (MINIDL_EMU_SEED to repeat)\n",
                     (unsigned long long)c->seed);
    }
    if (const char* sm = std::getenv("MINIDL_EMU_SM_COUNT"); sm && *sm) {
      c->sm_count = std::atoi(sm);
      if (c->sm_count < 1 || c->sm_count > 1024) fatal(str("MINIDL_EMU_SM_COUNT='%s': expected 1..1024", sm));
    }
    if (const char* b = std::getenv("CUDA_LAUNCH_BLOCKING"); b && !std::strcmp(b, "1")) c->async = false;
    std::atexit(write_log_at_exit);
    return c;
  }();
  return *s;
}

std::recursive_mutex& api_mutex() {
  static auto* m = new std::recursive_mutex();
  return *m;
}

std::string str(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char buf[1024];
  va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::string s;
  if (n >= 0 && std::size_t(n) < sizeof buf) {
    s.assign(buf, std::size_t(n));
  } else if (n >= 0) {
    s.resize(std::size_t(n) + 1);
    std::vsnprintf(&s[0], s.size(), fmt, ap2);
    s.resize(std::size_t(n));
  }
  va_end(ap2);
  return s;
}

void fatal(const std::string& message) {
  std::fprintf(stderr, "cuda_emu: fatal: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

void set_sticky_error(cudaError_t code, const std::string& message) {
  if (g_sticky != cudaSuccess) return;
  g_sticky = code;
  g_sticky_message = message;
  std::fprintf(stderr, "cuda_emu: %s\n", message.c_str());
}
cudaError_t sticky_error() { return g_sticky; }

// One API call: under the API lock, after the lazy set-up (Call).
template <class F>
cudaError_t api_call(F&& f) {
  Call call;
  return f();
}
// One call that queues work: refused while a sticky error stands, as the driver refuses it.
template <class F>
cudaError_t queued(F&& f) {
  Call call;
  if (sticky_error()) return sticky_error();
  return f();
}

void set_last_error(cudaError_t code, const std::string& message) {
  t_last = code;
  t_last_message = message;
  t_last_message_code = code;
}

Settings settings() {
  std::lock_guard<std::recursive_mutex> lock(api_mutex());
  return config();
}
void set_settings(const Settings& s) {
  std::lock_guard<std::recursive_mutex> lock(api_mutex());
  synchronize_device();  // queued work runs under the settings it was queued with
  config() = s;
  g_check_memory = s.check_memory;
  restart_order();
  apply_host_check();
}
void clear_error() {
  std::lock_guard<std::recursive_mutex> lock(api_mutex());
  g_sticky = cudaSuccess;
  g_sticky_message.clear();
  t_last = cudaSuccess;
  t_last_message.clear();
}
std::string last_error_message() {
  std::lock_guard<std::recursive_mutex> lock(api_mutex());
  return g_sticky != cudaSuccess ? g_sticky_message : t_last_message;
}

// ---- kernel launches --------------------------------------------------------------------------------

void submit_kernel(KernelLaunch&& l, cudaStream_t stream) {
  Call call;
  const dim3 g = l.grid, b = l.block;
  const std::uint64_t threads = std::uint64_t(b.x) * b.y * b.z;
  const char* bad = nullptr;
  if (!g.x || !g.y || !g.z || !b.x || !b.y || !b.z) bad = "a zero grid or block dimension";
  else if (threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64) bad = "more than 1024 threads per block (or a block dimension past 1024, 1024, 64)";
  else if (g.x > 2147483647u || g.y > 65535 || g.z > 65535) bad = "a grid dimension past (2^31-1, 65535, 65535)";
  else if (l.smem > 48 * 1024) {
    auto it = g_max_dynamic_smem.find(l.func);
    if (it == g_max_dynamic_smem.end() || l.smem > std::size_t(it->second))
      bad = "more than 48 KiB of dynamic shared memory without cudaFuncSetAttribute(MaxDynamicSharedMemorySize)";
  }
  if (bad) {
    set_last_error(cudaErrorInvalidConfiguration,
                   str("kernel `%s` launched with grid (%u,%u,%u), block (%u,%u,%u), %zu bytes of shared memory: %s",
                       l.name, g.x, g.y, g.z, b.x, b.y, b.z, l.smem, bad));
    return;
  }
  if (!valid_stream(stream)) {
    set_last_error(cudaErrorInvalidResourceHandle, str("kernel `%s` launched on an invalid stream", l.name));
    return;
  }
  // Which allocations the launch may touch: pointer parameters (const: read), and every word of
  // an aggregate parameter that holds a device address (a struct of pointers: read and write).
  std::vector<Access> accesses;
  const char* args = static_cast<const char*>(l.args.get());
  for (const ParamInfo& p : l.params) {
    if (p.kind == ParamKind::ConstPointer || p.kind == ParamKind::Pointer) {
      const void* v;
      std::memcpy(&v, args + p.offset, sizeof v);
      if (is_device(v)) accesses.push_back(Access{v, 0, p.kind == ParamKind::Pointer});
    } else if (p.kind == ParamKind::Aggregate) {
      for (std::size_t o = (p.offset + 7) / 8 * 8; o + 8 <= p.offset + p.size; o += 8) {
        const void* v;
        std::memcpy(&v, args + o, sizeof v);
        if (is_device(v)) accesses.push_back(Access{v, 0, true});
      }
    }
  }
  auto launch = std::make_shared<KernelLaunch>(std::move(l));
  const std::string name = str("kernel `%s`", launch->name);
  const cudaError_t r = enqueue(stream, name, std::move(accesses), {}, [launch]() { return run_kernel(*launch); });
  if (r != cudaSuccess) set_last_error(r, last_error_message());
}

}  // namespace emu

using namespace emu;

// ---- devices --------------------------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  Call call;
  *count = device_count();
  return *count ? cudaSuccess : fail(cudaErrorNoDevice, "no CUDA device (CUDA_VISIBLE_DEVICES is empty)");
}

cudaError_t cudaGetDevice(int* device) {
  Call call;
  if (!device_count()) return fail(cudaErrorNoDevice, "no CUDA device");
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  Call call;
  if (!device_count()) return fail(cudaErrorNoDevice, "no CUDA device");
  if (device != 0) return fail(cudaErrorInvalidDevice, str("cudaSetDevice(%d): the emulator has one device", device));
  return sticky_error();
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  Call call;
  if (device != 0 || !device_count()) return fail(cudaErrorInvalidDevice, "no such device");
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxBlockDimX: *value = 1024; break;
    case cudaDevAttrMaxGridDimX: *value = 2147483647; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMultiProcessorCount: *value = config().sm_count; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 227 * 1024; break;
    default: return fail(cudaErrorInvalidValue, "device attribute not modelled by the emulator");
  }
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  Call call;
  if (device != 0 || !device_count()) return fail(cudaErrorInvalidDevice, "no such device");
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "minidl CUDA emulator (%d SMs, sm_90)", config().sm_count);
  p->totalGlobalMem = device_total_bytes();
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = config().sm_count;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  Call call;
  if (const cudaError_t e = capture_forbids("cudaDeviceSynchronize", kEveryStream)) return e;
  return synchronize_device();
}

cudaError_t cudaDeviceReset() {
  Call call;
  synchronize_device();
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}

// ---- errors ------------------------------------------------------------------------------------------------

cudaError_t cudaGetLastError() {
  std::lock_guard<std::recursive_mutex> lock(api_mutex());
  report_pinned_violation();
  if (t_last != cudaSuccess) {
    const cudaError_t e = t_last;
    t_last = cudaSuccess;
    return e;
  }
  return g_sticky;
}

cudaError_t cudaPeekAtLastError() {
  std::lock_guard<std::recursive_mutex> lock(api_mutex());
  report_pinned_violation();
  return t_last != cudaSuccess ? t_last : g_sticky;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorMisalignedAddress: return "cudaErrorMisalignedAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorStreamCaptureIsolation: return "cudaErrorStreamCaptureIsolation";
    case cudaErrorStreamCaptureImplicit: return "cudaErrorStreamCaptureImplicit";
    case cudaErrorCapturedEvent: return "cudaErrorCapturedEvent";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "cudaErrorUnrecognized";
}

const char* cudaGetErrorString(cudaError_t e) {
  const char* base = "unrecognized error code";
  switch (e) {
    case cudaSuccess: base = "no error"; break;
    case cudaErrorInvalidValue: base = "invalid argument"; break;
    case cudaErrorMemoryAllocation: base = "out of memory"; break;
    case cudaErrorInitializationError: base = "initialization error"; break;
    case cudaErrorInvalidConfiguration: base = "invalid configuration argument"; break;
    case cudaErrorInvalidDevicePointer: base = "invalid device pointer"; break;
    case cudaErrorInvalidMemcpyDirection: base = "invalid copy direction for memcpy"; break;
    case cudaErrorNoDevice: base = "no CUDA-capable device is detected"; break;
    case cudaErrorInvalidDevice: base = "invalid device ordinal"; break;
    case cudaErrorInvalidResourceHandle: base = "invalid resource handle"; break;
    case cudaErrorNotReady: base = "device not ready"; break;
    case cudaErrorIllegalAddress: base = "an illegal memory access was encountered"; break;
    case cudaErrorLaunchOutOfResources: base = "too many resources requested for launch"; break;
    case cudaErrorMisalignedAddress: base = "misaligned address"; break;
    case cudaErrorLaunchFailure: base = "unspecified launch failure"; break;
    case cudaErrorNotSupported: base = "operation not supported"; break;
    case cudaErrorIllegalState: base = "the resource is in an illegal state for this operation"; break;
    case cudaErrorStreamCaptureUnsupported: base = "operation not permitted when stream is capturing"; break;
    case cudaErrorStreamCaptureInvalidated: base = "operation failed due to a previous error during capture"; break;
    case cudaErrorStreamCaptureUnmatched: base = "capture was not ended in the same stream as it began"; break;
    case cudaErrorStreamCaptureIsolation: base = "operation would have resulted in a merge of separate capture sequences"; break;
    case cudaErrorStreamCaptureImplicit: base = "operation would make the legacy stream depend on a capturing blocking stream"; break;
    case cudaErrorCapturedEvent: base = "operation not permitted on an event last recorded in a capturing stream"; break;
    case cudaErrorStreamCaptureWrongThread: base = "attempt to terminate a thread-local capture sequence from another thread"; break;
    case cudaErrorUnknown: base = "unknown error"; break;
  }
  std::lock_guard<std::recursive_mutex> lock(api_mutex());
  // The emulator's account of what went wrong rides along with the standard text.
  const std::string empty;
  const std::string& detail = e == g_sticky ? g_sticky_message : e == t_last_message_code ? t_last_message : empty;
  t_error_text = base;
  if (e != cudaSuccess && !detail.empty()) t_error_text += " [cuda_emu: " + detail + "]";
  return t_error_text.c_str();
}

// ---- memory -------------------------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  Call call;
  if (!p) return fail(cudaErrorInvalidValue, "cudaMalloc: null output pointer");
  if (const cudaError_t e = capture_forbids("cudaMalloc", kNoStream)) return e;
  if (sticky_error()) return sticky_error();
  const cudaError_t r = device_malloc(p, bytes);
  if (r != cudaSuccess)
    return fail(r, str("cudaMalloc(%zu bytes): out of memory (%zu of %zu bytes in use)", bytes, device_bytes_in_use(),
                       device_total_bytes()));
  return r;
}

cudaError_t cudaFree(void* p) {
  Call call;
  if (const cudaError_t e = capture_forbids("cudaFree", kNoStream)) return e;
  // cudaFree waits for the device, so work still queued never sees the block go.
  if (const cudaError_t e = synchronize_device()) return e;
  return device_free(p);
}

cudaError_t cudaMallocHost(void** p, std::size_t bytes) {
  Call call;
  if (const cudaError_t e = capture_forbids("cudaMallocHost", kNoStream)) return e;
  return pinned_malloc(p, bytes);
}

cudaError_t cudaHostAlloc(void** p, std::size_t bytes, unsigned) { return cudaMallocHost(p, bytes); }

cudaError_t cudaFreeHost(void* p) {
  Call call;
  if (const cudaError_t e = capture_forbids("cudaFreeHost", kNoStream)) return e;
  if (const cudaError_t e = synchronize_device()) return e;
  return pinned_free(p);
}

cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  Call call;
  *total_bytes = device_total_bytes();
  *free_bytes = device_total_bytes() > device_bytes_in_use() ? device_total_bytes() - device_bytes_in_use() : 0;
  return sticky_error();
}

namespace {

cudaMemcpyKind infer_kind(void* dst, const void* src, cudaMemcpyKind kind) {
  if (kind != cudaMemcpyDefault) return kind;
  const bool d = in_arena(dst), s = in_arena(src);
  return d ? (s ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice) : (s ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
}

const char* kind_name(cudaMemcpyKind k) {
  switch (k) {
    case cudaMemcpyHostToDevice: return "host to device";
    case cudaMemcpyDeviceToHost: return "device to host";
    case cudaMemcpyDeviceToDevice: return "device to device";
    default: return "host to host";
  }
}

cudaError_t check_device_arg(const char* call, const char* which, const void* p, std::size_t bytes) {
  if (device_range_ok(p, bytes)) return cudaSuccess;
  std::string why = in_arena(p) ? describe_device_address(reinterpret_cast<std::uintptr_t>(p), 1)
                                : std::string("a host address, not device memory");
  if (in_arena(p) && find_allocation(p, 1))
    why = str("%zu bytes from there run past the end of its allocation", bytes);
  return fail(cudaErrorInvalidValue, str("%s: the %s %p (%zu bytes) is not within a device allocation: %s", call,
                                         which, p, bytes, why.c_str()));
}

cudaError_t memcpy_async(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream,
                         const char* call) {
  if (sticky_error()) return sticky_error();
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, str("%s: invalid stream", call));
  if (bytes == 0) return cudaSuccess;
  kind = infer_kind(dst, src, kind);
  const bool dev_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool dev_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (dev_dst) {
    if (const cudaError_t e = check_device_arg(call, "destination", dst, bytes)) return e;
  } else if (in_arena(dst)) {
    return fail(cudaErrorInvalidValue, str("%s (%s): the destination %p is device memory", call, kind_name(kind), dst));
  }
  if (dev_src) {
    if (const cudaError_t e = check_device_arg(call, "source", src, bytes)) return e;
  } else if (in_arena(src)) {
    return fail(cudaErrorInvalidValue, str("%s (%s): the source %p is device memory", call, kind_name(kind), src));
  }
  std::vector<Access> acc;
  if (dev_src) acc.push_back(Access{src, bytes, false});
  if (dev_dst) acc.push_back(Access{dst, bytes, true});
  std::vector<PinnedUse> pinned;
  const std::string what = str("a %s of %zu bytes (%s) still queued", call, bytes, kind_name(kind));
  std::shared_ptr<std::vector<char>> staged;
  const void* from = src;
  const bool pageable = (!dev_src && !is_pinned(src, bytes)) || (!dev_dst && !is_pinned(dst, bytes));
  if (pageable && capture_id(stream_index(stream)))
    return fail(cudaErrorStreamCaptureUnsupported,
                str("%s (%s) of pageable host memory on a capturing stream: the emulator stages pageable copies "
                    "when they are issued, which a graph's replay cannot repeat; use pinned memory "
                    "(cudaMallocHost)",
                    call, kind_name(kind)));
  if (!dev_src) {
    if (is_pinned(src, bytes)) {
      // Page-locked: the copy reads the buffer when it runs; the host must leave it alone.
      pinned.push_back(PinnedUse{reinterpret_cast<std::uintptr_t>(src), reinterpret_cast<std::uintptr_t>(src) + bytes,
                                 false, what});
    } else {
      // Pageable: the driver stages it before the call returns.
      staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + bytes);
      from = staged->data();
    }
  }
  std::function<void()> at_issue;
  if (!dev_dst) {
    // The host may not look at the destination before the copy has run: until then it holds
    // 0xFF bytes (and pinned pages trap). Done when the copy is queued, each time a graph
    // holding it is launched too.
    at_issue = [dst, bytes]() { std::memset(dst, 0xff, bytes); };
    if (is_pinned(dst, bytes))
      pinned.push_back(PinnedUse{reinterpret_cast<std::uintptr_t>(dst), reinterpret_cast<std::uintptr_t>(dst) + bytes,
                                 true, what});
  }
  const cudaError_t r = enqueue(stream, str("%s (%s)", call, kind_name(kind)), std::move(acc), std::move(pinned),
                                [dst, from, bytes, staged]() {
                                  std::memmove(dst, from, bytes);
                                  return cudaSuccess;
                                },
                                std::move(at_issue));
  if (r != cudaSuccess) return fail(r, last_error_message());
  return cudaSuccess;
}

}  // namespace

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  Call call;
  return memcpy_async(dst, src, bytes, kind, stream, "cudaMemcpyAsync");
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  Call call;
  if (const cudaError_t e = capture_forbids("cudaMemcpy", kNoStream)) return e;
  // On the legacy default stream, and the host waits for it.
  if (const cudaError_t e = memcpy_async(dst, src, bytes, kind, nullptr, "cudaMemcpy")) return e;
  return synchronize_stream(nullptr);
}

cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream) {
  Call call;
  if (sticky_error()) return sticky_error();
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: invalid stream");
  if (bytes == 0) return cudaSuccess;
  if (const cudaError_t e = check_device_arg("cudaMemsetAsync", "destination", dst, bytes)) return e;
  const cudaError_t r = enqueue(stream, "cudaMemsetAsync", {Access{dst, bytes, true}}, {}, [dst, value, bytes]() {
    std::memset(dst, value, bytes);
    return cudaSuccess;
  });
  if (r != cudaSuccess) return fail(r, last_error_message());
  return cudaSuccess;
}

cudaError_t cudaMemset(void* dst, int value, std::size_t bytes) {
  Call call;
  if (const cudaError_t e = capture_forbids("cudaMemset", kNoStream)) return e;
  if (const cudaError_t e = cudaMemsetAsync(dst, value, bytes, nullptr)) return e;
  return synchronize_stream(nullptr);
}

// ---- streams and events -----------------------------------------------------------------------------------

cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  return queued([&] { return emu_stream_create(s, flags); });
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
  return api_call([&] { return emu_stream_destroy(s); });
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  return api_call([&] {
    if (const cudaError_t e = capture_forbids("cudaStreamSynchronize", stream_index(s))) return e;
    return synchronize_stream(s);
  });
}

cudaError_t cudaStreamQuery(cudaStream_t s) {
  return api_call([&] {
    if (const cudaError_t e = capture_forbids("cudaStreamQuery", stream_index(s))) return e;
    return emu_stream_query(s);
  });
}

cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned) {
  return queued([&] { return emu_stream_wait_event(s, e); });
}

cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  return api_call([&] { return emu_event_create(e); });
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
  return api_call([&] { return emu_event_destroy(e); });
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  return queued([&] { return emu_event_record(e, s); });
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  return api_call([&] { return emu_event_synchronize(e); });
}

cudaError_t cudaEventQuery(cudaEvent_t e) {
  return api_call([&] { return emu_event_synchronize(e); });
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  Call call;
  return emu_event_elapsed(ms, a, b);
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void* func) {
  Call call;
  if (!attr || !func) return fail(cudaErrorInvalidValue, "cudaFuncGetAttributes: null attributes or function");
  attr->maxThreadsPerBlock = 1024;
  attr->ptxVersion = 90;
  attr->binaryVersion = 90;
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  Call call;
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > 227 * 1024)
    return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: only MaxDynamicSharedMemorySize up to 227 KiB");
  g_max_dynamic_smem[func] = value;
  return cudaSuccess;
}
