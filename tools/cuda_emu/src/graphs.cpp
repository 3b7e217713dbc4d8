// Stream capture and CUDA graphs.
//
// While a stream captures (cudaStreamBeginCapture), the work issued to it (kernel launches,
// asynchronous copies and memsets, cuBLAS calls: everything that goes through enqueue()) is
// recorded instead of queued; cudaStreamEndCapture hands the recording back as a graph, and
// cudaGraphLaunch issues each recorded piece of work again, in order, on the launch stream, with
// the arguments it was captured with: a kernel's argument block, a copy's pointers and size, a
// cuBLAS call's scalars. Nothing is read from the host again, which is what makes a graph cheap
// on a GPU and what a program must allow for (a value passed by value is frozen in the graph).
// A capture is one stream's, so the recorded work is a chain and replays in that order; queued,
// it is checked like any other work (memory, races between streams, pinned buffers in flight).
//
// What the driver prohibits during a capture is refused here too, with the error it gives, and
// invalidates the capture (cudaStreamEndCapture then returns cudaErrorStreamCaptureInvalidated
// and no graph): synchronising or querying a capturing stream, synchronising an event recorded in
// a capture, work on the legacy default stream while a blocking stream captures, and, while a
// capture the calling thread is bound by is under way (cudaStreamCaptureModeGlobal: any thread's
// global capture and its own; ThreadLocal: its own), the potentially unsafe calls: cudaMalloc,
// cudaFree, cudaMallocHost, cudaFreeHost, cudaDeviceSynchronize, a blocking cudaMemcpy or
// cudaMemset. A thread that sets cudaStreamCaptureModeRelaxed with
// cudaThreadExchangeStreamCaptureMode may make them, as PyTorch's allocator does around
// cudaMalloc. Not modelled (refused with cudaErrorNotSupported, naming the emulator): captures
// spanning several streams (a capturing stream's event waited for by another stream), and a
// capturing stream waiting for an event recorded outside the capture.
#include <deque>
#include <set>
#include <thread>

#include "internal.h"

struct CUgraphNode_st {
  std::size_t index;
};
struct CUgraph_st {
  std::vector<emu::GraphNode> nodes;
  std::deque<CUgraphNode_st> handles;  // what cudaGraphGetNodes returns, one per node
};
struct CUgraphExec_st {
  std::vector<emu::GraphNode> nodes;
};

namespace emu {

namespace {

struct Capture {
  std::uint64_t id = 0;
  cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal;
  std::thread::id thread;
  std::string invalidated_by;  // empty while valid
  std::vector<GraphNode> nodes;
};

std::map<int, Capture> g_captures;  // by stream index
std::uint64_t g_next_capture = 1;
std::set<CUgraph_st*> g_graphs;
std::set<CUgraphExec_st*> g_execs;
thread_local cudaStreamCaptureMode t_mode = cudaStreamCaptureModeGlobal;

cudaError_t refuse(cudaError_t code, const std::string& message) {
  set_last_error(code, message);
  return code;
}

std::string stream_text(int i) { return i == 0 ? std::string("the legacy default stream") : str("stream %d", i); }

// Does a capture bind the calling thread (its potentially unsafe calls are prohibited)?
bool binds_this_thread(const Capture& c) {
  if (t_mode == cudaStreamCaptureModeRelaxed) return false;
  const bool own = c.thread == std::this_thread::get_id() && c.mode != cudaStreamCaptureModeRelaxed;
  if (t_mode == cudaStreamCaptureModeThreadLocal) return own;
  return own || c.mode == cudaStreamCaptureModeGlobal;
}

}  // namespace

CaptureAction capture_enqueue(int stream, const GraphNode& node, cudaError_t* error) {
  if (g_captures.empty()) return CaptureAction::Queue;
  auto it = g_captures.find(stream);
  if (it != g_captures.end()) {
    Capture& c = it->second;
    if (!c.invalidated_by.empty()) {
      *error = refuse(cudaErrorStreamCaptureInvalidated,
                      str("%s issued to %s, whose capture was invalidated by %s: end the capture "
                          "(cudaStreamEndCapture) first",
                          node.name.c_str(), stream_text(stream).c_str(), c.invalidated_by.c_str()));
      return CaptureAction::Refused;
    }
    c.nodes.push_back(node);
    return CaptureAction::Recorded;
  }
  if (stream == 0) {
    for (auto& [i, c] : g_captures)
      if (stream_blocking(i) && c.invalidated_by.empty()) {
        c.invalidated_by = node.name + " on the legacy default stream";
        *error = refuse(cudaErrorStreamCaptureImplicit,
                        str("%s issued to the legacy default stream while %s, a blocking stream, captures: the "
                            "legacy stream's implicit synchronisation would tie it to the capture, which is now "
                            "invalidated (capture on a stream made with cudaStreamNonBlocking)",
                            node.name.c_str(), stream_text(i).c_str()));
        return CaptureAction::Refused;
      }
  }
  return CaptureAction::Queue;
}

std::uint64_t capture_id(int stream) {
  auto it = g_captures.find(stream);
  return it == g_captures.end() ? 0 : it->second.id;
}

bool capture_active(std::uint64_t id) {
  for (const auto& [i, c] : g_captures)
    if (c.id == id) return true;
  return false;
}

cudaError_t capture_wait_event(int stream, std::uint64_t event_capture) {
  const std::uint64_t mine = capture_id(stream);
  const bool event_live = event_capture && capture_active(event_capture);
  if (mine == 0 && !event_live) return cudaSuccess;
  if (mine != 0 && mine == event_capture) return cudaSuccess;  // within one stream's capture: already in order
  if (mine == 0)
    return refuse(cudaErrorNotSupported,
                  str("cudaStreamWaitEvent: %s waits for an event recorded in another stream's capture, which "
                      "would join it to that capture; the emulator models single-stream captures only",
                      stream_text(stream).c_str()));
  return refuse(cudaErrorNotSupported,
                str("cudaStreamWaitEvent: %s captures and waits for an event recorded %s; the emulator models "
                    "single-stream captures only",
                    stream_text(stream).c_str(), event_capture ? "in another capture" : "outside the capture"));
}

cudaError_t capture_forbids(const char* call, int stream) {
  if (g_captures.empty()) return cudaSuccess;
  if (stream == kEveryStream) {
    // A wait for every stream waits for the capturing ones too, whatever the mode.
    for (auto& [i, c] : g_captures)
      if (const cudaError_t e = capture_forbids(call, i)) return e;
    return capture_forbids(call, kNoStream);
  }
  if (stream >= 0) {
    auto it = g_captures.find(stream);
    if (it == g_captures.end()) return cudaSuccess;
    if (it->second.invalidated_by.empty()) it->second.invalidated_by = call;
    return refuse(cudaErrorStreamCaptureUnsupported,
                  str("%s on %s, which is capturing: a capture records work and runs none, so there is nothing to "
                      "wait for; the capture is invalidated (synchronise before cudaStreamBeginCapture or after "
                      "cudaStreamEndCapture)",
                      call, stream_text(stream).c_str()));
  }
  std::vector<int> bound;
  for (auto& [i, c] : g_captures)
    if (binds_this_thread(c)) bound.push_back(i);
  if (bound.empty()) return cudaSuccess;
  std::string which;
  for (int i : bound) {
    Capture& c = g_captures[i];
    if (c.invalidated_by.empty()) c.invalidated_by = call;
    which += (which.empty() ? "" : ", ") + stream_text(i);
  }
  return refuse(cudaErrorStreamCaptureUnsupported,
                str("%s while %s captures (cudaStreamCaptureMode%s): a potentially unsafe call during a capture, "
                    "which is now invalidated; make it before cudaStreamBeginCapture, or under "
                    "cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureModeRelaxed) if the graph does not "
                    "depend on it",
                    call, which.c_str(),
                    g_captures[bound[0]].mode == cudaStreamCaptureModeGlobal ? "Global" : "ThreadLocal"));
}

}  // namespace emu

using namespace emu;

namespace {
// The API lock and the emulator set up, as every call of runtime_api.cpp has.
struct Lock {
  std::lock_guard<std::recursive_mutex> lock{api_mutex()};
  Lock() {
    config();
    memory_init();
  }
};
}  // namespace

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  Lock lock;
  const int i = stream_index(stream);
  if (i < 0) return refuse(cudaErrorInvalidResourceHandle, "cudaStreamBeginCapture: invalid stream");
  if (i == 0)
    return refuse(cudaErrorStreamCaptureUnsupported,
                  "cudaStreamBeginCapture on the legacy default stream: capture needs a created stream");
  if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal &&
      mode != cudaStreamCaptureModeRelaxed)
    return refuse(cudaErrorInvalidValue, str("cudaStreamBeginCapture: mode %d is not a cudaStreamCaptureMode", mode));
  if (g_captures.count(i))
    return refuse(cudaErrorIllegalState, str("cudaStreamBeginCapture: %s is already capturing", stream_text(i).c_str()));
  if (sticky_error()) return sticky_error();
  Capture& c = g_captures[i];
  c.id = g_next_capture++;
  c.mode = mode;
  c.thread = std::this_thread::get_id();
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  Lock lock;
  if (!graph) return refuse(cudaErrorInvalidValue, "cudaStreamEndCapture: null graph pointer");
  const int i = stream_index(stream);
  if (i < 0) return refuse(cudaErrorInvalidResourceHandle, "cudaStreamEndCapture: invalid stream");
  auto it = g_captures.find(i);
  if (it == g_captures.end())
    return refuse(cudaErrorIllegalState, str("cudaStreamEndCapture: %s is not capturing", stream_text(i).c_str()));
  Capture& c = it->second;
  if (c.mode != cudaStreamCaptureModeRelaxed && c.thread != std::this_thread::get_id())
    return refuse(cudaErrorStreamCaptureWrongThread,
                  "cudaStreamEndCapture from another thread than the one that began a non-relaxed capture");
  *graph = nullptr;
  if (!c.invalidated_by.empty()) {
    const std::string why = c.invalidated_by;
    g_captures.erase(it);
    return refuse(cudaErrorStreamCaptureInvalidated,
                  str("cudaStreamEndCapture: the capture on %s was invalidated by %s; no graph was made",
                      stream_text(i).c_str(), why.c_str()));
  }
  auto* g = new CUgraph_st();
  g->nodes = std::move(c.nodes);
  for (std::size_t n = 0; n < g->nodes.size(); ++n) g->handles.push_back(CUgraphNode_st{n});
  g_graphs.insert(g);
  g_captures.erase(it);
  *graph = g;
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  Lock lock;
  if (!status) return refuse(cudaErrorInvalidValue, "cudaStreamIsCapturing: null status pointer");
  const int i = stream_index(stream);
  if (i < 0) return refuse(cudaErrorInvalidResourceHandle, "cudaStreamIsCapturing: invalid stream");
  auto it = g_captures.find(i);
  *status = it == g_captures.end()              ? cudaStreamCaptureStatusNone
            : it->second.invalidated_by.empty() ? cudaStreamCaptureStatusActive
                                                : cudaStreamCaptureStatusInvalidated;
  return cudaSuccess;
}

cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode* mode) {
  if (!mode) return refuse(cudaErrorInvalidValue, "cudaThreadExchangeStreamCaptureMode: null mode pointer");
  std::swap(*mode, t_mode);
  return cudaSuccess;
}

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, std::size_t* num_nodes) {
  Lock lock;
  if (!g_graphs.count(graph)) return refuse(cudaErrorInvalidValue, "cudaGraphGetNodes: not a live graph");
  if (!num_nodes) return refuse(cudaErrorInvalidValue, "cudaGraphGetNodes: null count pointer");
  if (nodes)
    for (std::size_t n = 0; n < std::min(*num_nodes, graph->handles.size()); ++n) nodes[n] = &graph->handles[n];
  *num_nodes = graph->nodes.size();
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  Lock lock;
  if (!exec) return refuse(cudaErrorInvalidValue, "cudaGraphInstantiate: null output pointer");
  if (!g_graphs.count(graph)) return refuse(cudaErrorInvalidValue, "cudaGraphInstantiate: not a live graph");
  if (flags != 0)
    return refuse(cudaErrorInvalidValue,
                  str("cudaGraphInstantiate: flags %llu not modelled by the emulator (only 0)", flags));
  // An executable graph is a snapshot: destroying or changing the graph afterwards leaves it be.
  auto* e = new CUgraphExec_st();
  e->nodes = graph->nodes;
  g_execs.insert(e);
  *exec = e;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  return cudaGraphInstantiate(exec, graph, flags);
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  Lock lock;
  report_pinned_violation();
  if (!g_execs.count(exec)) return refuse(cudaErrorInvalidValue, "cudaGraphLaunch: not a live executable graph");
  if (!valid_stream(stream)) return refuse(cudaErrorInvalidResourceHandle, "cudaGraphLaunch: invalid stream");
  if (sticky_error()) return sticky_error();
  // The recorded work, queued again in its order (or recorded again, when `stream` captures).
  for (const GraphNode& n : exec->nodes) {
    const cudaError_t r = enqueue(stream, n.name + " (graph replay)", n.accesses, n.pinned, n.run, n.at_issue);
    if (r != cudaSuccess) return r;
  }
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  Lock lock;
  // Queued replays hold their own copies of the work: destroying the executable graph while they
  // are pending is allowed, as with the driver.
  if (!g_execs.erase(exec)) return refuse(cudaErrorInvalidValue, "cudaGraphExecDestroy: not a live executable graph");
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  Lock lock;
  if (!g_graphs.erase(graph)) return refuse(cudaErrorInvalidValue, "cudaGraphDestroy: not a live graph");
  delete graph;
  return cudaSuccess;
}
