// Streams, events and the device's queue of work.
//
// Every launch, copy and memset is queued on its stream and runs only when the host waits for
// it (a stream, event or device synchronise, a blocking call, or a full queue), as on a GPU, so
// code that reads results before synchronising sees the poison the copy has not yet replaced.
// A copy into pinned memory also protects the destination's pages until it runs, so that the
// host touching them is reported (memory.cpp).
//
// Ordering is tracked with vector clocks: each operation knows, per stream, the last operation
// of that stream it is ordered after (through stream order, events, the legacy default stream,
// or a host synchronisation that preceded its launch). Each device allocation remembers, per
// stream, the last read and write. An operation that touches an allocation another stream
// wrote (or reads, when this one writes) without being ordered after it is a race, reported at
// launch: typically a block the caching allocator handed out again while work queued on another
// stream still used it. Work on a single stream is always ordered and never reported.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>

#include "internal.h"

struct CUstream_st {
  int index;
};
struct CUevent_st {
  int index;
};

namespace emu {

namespace {

using Clock = std::vector<std::uint64_t>;

struct Op {
  std::uint64_t id = 0;
  int stream = 0;
  std::string name;
  std::shared_ptr<Op> prev;  // the previous operation of the same stream, while it is pending
  std::vector<std::shared_ptr<Op>> deps;
  Clock vc;
  std::function<cudaError_t()> run;
  std::vector<PinnedUse> pinned;
  bool done = false;
  std::chrono::steady_clock::time_point finished;
};

struct Stream {
  CUstream_st handle{0};
  bool blocking = true;
  bool alive = true;
  std::shared_ptr<Op> last;             // the last operation queued (until it is done)
  Clock vc;                             // what the stream's next operation is ordered after
  std::uint64_t clock = 0;
  std::vector<std::shared_ptr<Op>> waits;  // cudaStreamWaitEvent, for the next operation
  std::deque<std::shared_ptr<Op>> pending;
};

struct Event {
  CUevent_st handle{0};
  bool alive = true, recorded = false;
  std::uint64_t capture = 0;  // last recorded in this capture (graphs.cpp), 0: not captured
  std::shared_ptr<Op> op;  // the operation it waits for (null: complete when recorded)
  Clock vc;
  std::chrono::steady_clock::time_point at;
};

std::deque<Stream> g_streams;  // index 0: the legacy default stream
std::deque<Event> g_events;
Clock g_host;  // what the host has seen complete
std::uint64_t g_next_op = 1;
constexpr std::size_t kMaxPending = 1024;  // a GPU's launch queue is finite too

void join(Clock& a, const Clock& b) {
  if (a.size() < b.size()) a.resize(b.size(), 0);
  for (std::size_t i = 0; i < b.size(); ++i) a[i] = std::max(a[i], b[i]);
}
std::uint64_t at(const Clock& c, std::size_t i) { return i < c.size() ? c[i] : 0; }

void ensure_default() {
  if (g_streams.empty()) {
    g_streams.emplace_back();
    g_streams.back().handle.index = 0;
  }
}

Stream* stream_of(cudaStream_t s) {
  ensure_default();
  if (!s) return &g_streams[0];
  const int i = s->index;
  if (i <= 0 || std::size_t(i) >= g_streams.size() || &g_streams[i].handle != s || !g_streams[i].alive) return nullptr;
  return &g_streams[i];
}

std::string stream_name(int i) { return i == 0 ? std::string("the legacy default stream") : str("stream %d", i); }

cudaError_t execute(const std::shared_ptr<Op>& op);

void complete(const std::shared_ptr<Op>& op) {
  if (!op || op->done) return;
  DeviceAccess access;  // one opening of the arena for the whole stretch of work
  Stream& s = g_streams[op->stream];
  while (!s.pending.empty()) {
    std::shared_ptr<Op> front = s.pending.front();
    execute(front);
    if (front == op) break;
  }
}

cudaError_t execute(const std::shared_ptr<Op>& op) {
  if (op->done) return cudaSuccess;
  for (const auto& d : op->deps) complete(d);
  for (const PinnedUse& u : op->pinned) pinned_use(u, false);
  cudaError_t r = cudaSuccess;
  if (sticky_error() == cudaSuccess) {
    // After a failure the device runs nothing more, as a GPU with a sticky error.
    DeviceAccess access;  // already open when called from complete()
    r = op->run();
  }
  op->done = true;
  op->finished = std::chrono::steady_clock::now();
  op->run = nullptr;
  op->deps.clear();
  op->prev.reset();
  Stream& s = g_streams[op->stream];
  if (!s.pending.empty() && s.pending.front() == op) s.pending.pop_front();
  if (s.last == op) s.last.reset();
  return r;
}

// The allocations a queued operation touches, checked against the other streams' uses.
bool check_races(Op& op, const std::vector<Access>& accesses) {
  if (!config().check_races) return true;
  for (const Access& a : accesses) {
    Allocation* al = a.bytes ? find_allocation(a.ptr, a.bytes) : find_allocation(a.ptr, 1);
    if (!al) al = allocation_near(reinterpret_cast<std::uintptr_t>(a.ptr));  // one past the end
    if (!al || al->freed) continue;
    if (al->uses.size() < g_streams.size()) al->uses.resize(g_streams.size());
    for (std::size_t s = 0; s < al->uses.size(); ++s) {
      if (int(s) == op.stream) continue;
      const Allocation::Use& u = al->uses[s];
      const std::uint64_t seen = at(op.vc, s);
      const bool ww = u.write > seen;
      const bool rw = a.write && u.read > seen;
      if (!ww && !rw) continue;
      set_sticky_error(
          cudaErrorUnknown,
          str("race between streams on device allocation #%llu (%zu bytes): %s on %s %s it while %s on %s, which "
              "nothing orders it after (no event, no synchronisation), %s it. A block freed and handed out again while "
              "work queued on another stream still used it? Record an event after the old work and make the new "
              "stream wait for it.",
              (unsigned long long)al->id, al->bytes, op.name.c_str(), stream_name(op.stream).c_str(),
              a.write ? "writes" : "reads", (ww ? u.writer : u.reader).c_str(), stream_name(int(s)).c_str(),
              ww ? "writes" : "reads"));
      return false;
    }
    Allocation::Use& mine = al->uses[op.stream];
    const std::uint64_t now = at(op.vc, op.stream);
    if (a.write) {
      mine.write = now;
      mine.writer = op.name;
    } else {
      mine.read = now;
      mine.reader = op.name;
    }
  }
  return true;
}

}  // namespace

bool valid_stream(cudaStream_t s) { return stream_of(s) != nullptr; }
int stream_index(cudaStream_t s) {
  const Stream* st = stream_of(s);
  return st ? st->handle.index : -1;
}
bool stream_blocking(int i) { return i >= 0 && std::size_t(i) < g_streams.size() && g_streams[i].blocking; }

cudaError_t enqueue(cudaStream_t stream, std::string name, std::vector<Access> accesses, std::vector<PinnedUse> pinned,
                    std::function<cudaError_t()> run, std::function<void()> at_issue) {
  Stream* s = stream_of(stream);
  if (!s) return cudaErrorInvalidResourceHandle;
  // A capturing stream records the work into its graph instead (graphs.cpp).
  {
    GraphNode node{name, accesses, pinned, run, at_issue};
    cudaError_t error = cudaSuccess;
    switch (capture_enqueue(s->handle.index, node, &error)) {
      case CaptureAction::Recorded: return cudaSuccess;
      case CaptureAction::Refused: return error;
      case CaptureAction::Queue: break;
    }
  }
  if (at_issue) at_issue();
  auto op = std::make_shared<Op>();
  op->id = g_next_op++;
  op->stream = s->handle.index;
  op->name = std::move(name);
  op->run = std::move(run);
  op->pinned = std::move(pinned);
  // Stream order, the legacy default stream's implicit synchronisation, event waits.
  op->vc = s->vc;
  join(op->vc, g_host);
  if (s->last) op->deps.push_back(s->last);
  if (op->stream == 0) {
    for (std::size_t i = 1; i < g_streams.size(); ++i)
      if (g_streams[i].alive && g_streams[i].blocking) {
        if (g_streams[i].last) op->deps.push_back(g_streams[i].last);
        join(op->vc, g_streams[i].vc);
      }
  } else if (s->blocking) {
    if (g_streams[0].last) op->deps.push_back(g_streams[0].last);
    join(op->vc, g_streams[0].vc);
  }
  for (auto& w : s->waits) {
    op->deps.push_back(w);
    join(op->vc, w->vc);
  }
  s->waits.clear();
  if (op->vc.size() < g_streams.size()) op->vc.resize(g_streams.size(), 0);
  op->vc[op->stream] = ++s->clock;
  if (!check_races(*op, accesses)) return sticky_error();
  s->vc = op->vc;
  for (const PinnedUse& u : op->pinned) pinned_use(u, true);
  s->pending.push_back(op);
  s->last = op;
  if (!config().async) {
    const cudaError_t r = execute(op);
    join(g_host, op->vc);
    return r;
  }
  if (s->pending.size() > kMaxPending) execute(s->pending.front());
  return cudaSuccess;
}

cudaError_t synchronize_stream(cudaStream_t stream) {
  Stream* s = stream_of(stream);
  if (!s) return cudaErrorInvalidResourceHandle;
  if (s->last) complete(s->last);
  join(g_host, s->vc);
  return sticky_error();
}

cudaError_t synchronize_device() {
  ensure_default();
  bool pending = false;
  for (const Stream& s : g_streams) pending = pending || !s.pending.empty();
  std::unique_ptr<DeviceAccess> access;
  if (pending) access = std::make_unique<DeviceAccess>();
  for (std::size_t i = 0; i < g_streams.size(); ++i)
    if (g_streams[i].last) complete(g_streams[i].last);
  for (const Stream& s : g_streams) join(g_host, s.vc);
  return sticky_error();
}

}  // namespace emu

using emu::g_events;
using emu::g_streams;

cudaError_t emu_stream_create(cudaStream_t* out, unsigned flags) {
  emu::ensure_default();
  g_streams.emplace_back();
  emu::Stream& s = g_streams.back();
  s.handle.index = int(g_streams.size() - 1);
  s.blocking = !(flags & cudaStreamNonBlocking);
  *out = &s.handle;
  return cudaSuccess;
}

cudaError_t emu_stream_destroy(cudaStream_t stream) {
  emu::Stream* s = emu::stream_of(stream);
  if (!s || !stream) return cudaErrorInvalidResourceHandle;
  if (s->last) emu::complete(s->last);
  s->alive = false;
  return cudaSuccess;
}

cudaError_t emu_stream_wait_event(cudaStream_t stream, cudaEvent_t event) {
  emu::Stream* s = emu::stream_of(stream);
  if (!s || !event || std::size_t(event->index) >= g_events.size() || !g_events[event->index].alive)
    return cudaErrorInvalidResourceHandle;
  const emu::Event& e = g_events[event->index];
  // During a capture: within one stream's capture the wait adds nothing to stream order; a wait
  // that would join two streams into one capture (or bring outside work in) is not modelled.
  if (const cudaError_t c = emu::capture_wait_event(s->handle.index, e.recorded ? e.capture : 0)) return c;
  if (e.recorded && e.capture && emu::capture_active(e.capture)) return cudaSuccess;
  if (!e.recorded) return cudaSuccess;  // waiting on a never-recorded event is a no-op in CUDA
  if (e.op && !e.op->done) s->waits.push_back(e.op);
  emu::join(s->vc, e.vc);
  return cudaSuccess;
}

cudaError_t emu_stream_query(cudaStream_t stream) { return emu::synchronize_stream(stream); }

cudaError_t emu_event_create(cudaEvent_t* out) {
  g_events.emplace_back();
  emu::Event& e = g_events.back();
  e.handle.index = int(g_events.size() - 1);
  *out = &e.handle;
  return cudaSuccess;
}

namespace {
emu::Event* event_of(cudaEvent_t e) {
  if (!e || e->index < 0 || std::size_t(e->index) >= g_events.size() || !g_events[e->index].alive) return nullptr;
  return &g_events[e->index];
}
}  // namespace

cudaError_t emu_event_destroy(cudaEvent_t event) {
  emu::Event* e = event_of(event);
  if (!e) return cudaErrorInvalidResourceHandle;
  e->alive = false;
  e->op.reset();
  return cudaSuccess;
}

cudaError_t emu_event_record(cudaEvent_t event, cudaStream_t stream) {
  emu::Event* e = event_of(event);
  emu::Stream* s = emu::stream_of(stream);
  if (!e || !s) return cudaErrorInvalidResourceHandle;
  e->recorded = true;
  e->capture = emu::capture_id(s->handle.index);
  if (e->capture) {
    // Recorded into a capture: it marks a point of the graph, not of any queued work.
    e->op.reset();
    return cudaSuccess;
  }
  e->op = s->last;
  e->vc = s->vc;
  e->at = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t emu_event_synchronize(cudaEvent_t event) {
  emu::Event* e = event_of(event);
  if (!e) return cudaErrorInvalidResourceHandle;
  if (e->capture && emu::capture_active(e->capture)) {
    emu::set_last_error(cudaErrorCapturedEvent,
                        "cudaEventSynchronize/cudaEventQuery on an event last recorded in a stream that is capturing: "
                        "it stands for a point in the graph being built, not for work the device runs");
    return cudaErrorCapturedEvent;
  }
  if (e->op) emu::complete(e->op);
  emu::join(emu::g_host, e->vc);
  return emu::sticky_error();
}

cudaError_t emu_event_elapsed(float* ms, cudaEvent_t a, cudaEvent_t b) {
  emu::Event* e0 = event_of(a);
  emu::Event* e1 = event_of(b);
  if (!e0 || !e1) return cudaErrorInvalidResourceHandle;
  if (!e0->recorded || !e1->recorded) return cudaErrorInvalidResourceHandle;
  if ((e0->op && !e0->op->done) || (e1->op && !e1->op->done)) return cudaErrorNotReady;
  const auto t0 = e0->op ? e0->op->finished : e0->at, t1 = e1->op ? e1->op->finished : e1->at;
  *ms = std::chrono::duration<float, std::milli>(t1 - t0).count();
  return cudaSuccess;
}
