// Stream capture and graphs: captured work runs only when the graph is launched, and each launch
// reruns it with the arguments it was captured with (a scalar passed by value stays frozen, one
// read from device memory follows it); what the driver refuses during a capture (a host
// synchronisation, cudaMalloc, a blocking copy) is refused and invalidates the capture.
#include "planted.h"
#include "util.h"

namespace {
struct Stream {
  cudaStream_t s = nullptr;
  explicit Stream(unsigned flags = cudaStreamNonBlocking) {
    REQUIRE(cudaStreamCreateWithFlags(&s, flags) == cudaSuccess);
  }
  ~Stream() { cudaStreamDestroy(s); }
};

cudaStreamCaptureStatus capture_status(cudaStream_t s) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  REQUIRE(cudaStreamIsCapturing(s, &st) == cudaSuccess);
  return st;
}

// Ends a capture that must have been invalidated by `by`: no graph, the error names it.
void check_invalidated(cudaStream_t s, const char* by) {
  CHECK(capture_status(s) == cudaStreamCaptureStatusInvalidated);
  cudaGraph_t g = reinterpret_cast<cudaGraph_t>(1);
  check_error(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated, {"invalidated by", by});
  CHECK(g == nullptr);
  CHECK(capture_status(s) == cudaStreamCaptureStatusNone);
  cudaGetLastError();
}
}  // namespace

TEST_CASE("graphs: a replay reruns the captured kernels with their captured arguments", "[emu][graphs]") {
  const int n = 1000;
  EmuTest t;
  Stream st;
  const std::vector<float> xs = iota_values(n);
  DeviceArray x(xs), by_value(n), from_device(n), lr(1);
  by_value.upload(std::vector<float>(n, 7.f));
  from_device.upload(std::vector<float>(n, 7.f));
  float host_lr = 0.5f;
  lr.upload({host_lr});

  REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  CHECK(capture_status(st.s) == cudaStreamCaptureStatusActive);
  REQUIRE(planted::fill(by_value.get(), n, 1.f, st.s) == cudaSuccess);
  REQUIRE(planted::axpy_by_value(by_value.get(), x.get(), host_lr, n, st.s) == cudaSuccess);
  REQUIRE(planted::fill(from_device.get(), n, 1.f, st.s) == cudaSuccess);
  REQUIRE(planted::axpy_from_device(from_device.get(), x.get(), lr.get(), n, st.s) == cudaSuccess);
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamEndCapture(st.s, &graph) == cudaSuccess);
  REQUIRE(graph != nullptr);
  std::size_t nodes = 0;
  REQUIRE(cudaGraphGetNodes(graph, nullptr, &nodes) == cudaSuccess);
  CHECK(nodes == 4);
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaGraphDestroy(graph) == cudaSuccess);  // the executable graph is its own copy

  // Capturing ran nothing.
  REQUIRE(cudaStreamSynchronize(st.s) == cudaSuccess);
  CHECK(by_value.download() == std::vector<float>(n, 7.f));
  CHECK(from_device.download() == std::vector<float>(n, 7.f));

  for (const float next_lr : {0.5f, 0.25f, -2.f}) {
    // The learning rate changes between replays: on the host, and in device memory.
    host_lr = next_lr;
    lr.upload({next_lr});
    by_value.upload(std::vector<float>(n, 9.f));  // each replay overwrites it again
    REQUIRE(cudaGraphLaunch(exec, st.s) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(st.s) == cudaSuccess);
    const std::vector<float> v = by_value.download(), d = from_device.download();
    for (int i = 0; i < n; ++i) {
      INFO("element " << i << ", lr " << next_lr);
      REQUIRE(v[i] == 1.f + 0.5f * xs[i]);      // the planted bug: the captured 0.5, whatever lr is now
      REQUIRE(d[i] == 1.f + next_lr * xs[i]);  // read from device memory at each replay
    }
  }
  REQUIRE(cudaGraphExecDestroy(exec) == cudaSuccess);
  check_error(cudaGraphLaunch(exec, st.s), cudaErrorInvalidValue, {"not a live executable graph"});
}

TEST_CASE("graphs: a replayed copy to pinned memory is queued like any other", "[emu][graphs]") {
  const int n = 256;
  EmuTest t;
  Stream st;
  DeviceArray d(n);
  float* h = nullptr;
  REQUIRE(cudaMallocHost(reinterpret_cast<void**>(&h), n * 4) == cudaSuccess);
  for (int i = 0; i < n; ++i) h[i] = 42.f;
  REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  REQUIRE(planted::fill(d.get(), n, 3.f, st.s) == cudaSuccess);
  REQUIRE(cudaMemcpyAsync(h, d.get(), n * 4, cudaMemcpyDeviceToHost, st.s) == cudaSuccess);
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamEndCapture(st.s, &graph) == cudaSuccess);
  CHECK(h[5] == 42.f);  // recording the copy touched nothing
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(exec, st.s) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(st.s) == cudaSuccess);
  CHECK(h[5] == 3.f);

  SECTION("pageable memory cannot be captured") {
    std::vector<float> pageable(n);
    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    check_error(cudaMemcpyAsync(pageable.data(), d.get(), n * 4, cudaMemcpyDeviceToHost, st.s),
                cudaErrorStreamCaptureUnsupported, {"pageable host memory on a capturing stream"});
    REQUIRE(cudaStreamEndCapture(st.s, &graph) == cudaSuccess);
    cudaGraphDestroy(graph);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaFreeHost(h);
}

TEST_CASE("graphs: a host synchronisation inside a capture is refused and invalidates it", "[emu][graphs]") {
  const int n = 256;
  EmuTest t;
  Stream st;
  DeviceArray d(n);
  REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  REQUIRE(planted::fill(d.get(), n, 3.f, st.s) == cudaSuccess);

  SECTION("cudaStreamSynchronize on the capturing stream (reading a loss with .item() mid-step)") {
    check_error(cudaStreamSynchronize(st.s), cudaErrorStreamCaptureUnsupported,
                {"cudaStreamSynchronize", "capturing", "invalidated"});
    // Work issued after that is refused until the capture ends.
    check_error(planted::fill(d.get(), n, 4.f, st.s), cudaErrorStreamCaptureInvalidated,
                {"invalidated by cudaStreamSynchronize"});
    check_invalidated(st.s, "cudaStreamSynchronize");
  }
  SECTION("cudaStreamQuery") {
    check_error(cudaStreamQuery(st.s), cudaErrorStreamCaptureUnsupported, {"cudaStreamQuery"});
    check_invalidated(st.s, "cudaStreamQuery");
  }
  SECTION("cudaDeviceSynchronize") {
    check_error(cudaDeviceSynchronize(), cudaErrorStreamCaptureUnsupported, {"cudaDeviceSynchronize"});
    check_invalidated(st.s, "cudaDeviceSynchronize");
  }
  SECTION("a blocking cudaMemcpy") {
    std::vector<float> h(n);
    check_error(cudaMemcpy(h.data(), d.get(), n * 4, cudaMemcpyDeviceToHost), cudaErrorStreamCaptureUnsupported,
                {"cudaMemcpy", "potentially unsafe"});
    check_invalidated(st.s, "cudaMemcpy");
  }
  SECTION("cudaMalloc: refused in the global mode, allowed to a thread that relaxed its own") {
    void* p = nullptr;
    check_error(cudaMalloc(&p, 1024), cudaErrorStreamCaptureUnsupported, {"cudaMalloc", "Global"});
    CHECK(p == nullptr);
    check_invalidated(st.s, "cudaMalloc");

    REQUIRE(cudaStreamBeginCapture(st.s, cudaStreamCaptureModeGlobal) == cudaSuccess);
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    REQUIRE(cudaThreadExchangeStreamCaptureMode(&mode) == cudaSuccess);
    CHECK(mode == cudaStreamCaptureModeGlobal);
    CHECK(cudaMalloc(&p, 1024) == cudaSuccess);
    REQUIRE(cudaThreadExchangeStreamCaptureMode(&mode) == cudaSuccess);
    CHECK(capture_status(st.s) == cudaStreamCaptureStatusActive);
    cudaGraph_t graph = nullptr;
    REQUIRE(cudaStreamEndCapture(st.s, &graph) == cudaSuccess);
    cudaGraphDestroy(graph);
    CHECK(cudaFree(p) == cudaSuccess);
  }
  SECTION("an event recorded in the capture cannot be waited for by the host") {
    cudaEvent_t e = nullptr;
    REQUIRE(cudaEventCreate(&e) == cudaSuccess);
    REQUIRE(cudaEventRecord(e, st.s) == cudaSuccess);
    CHECK(cudaStreamWaitEvent(st.s, e, 0) == cudaSuccess);  // within the capture: fine
    check_error(cudaEventSynchronize(e), cudaErrorCapturedEvent, {"recorded in a stream that is capturing"});
    cudaGraph_t graph = nullptr;
    REQUIRE(cudaStreamEndCapture(st.s, &graph) == cudaSuccess);  // that does not invalidate it
    cudaGraphDestroy(graph);
    cudaEventDestroy(e);
  }
  SECTION("outside a capture the same calls are fine") {
    cudaGraph_t graph = nullptr;
    REQUIRE(cudaStreamEndCapture(st.s, &graph) == cudaSuccess);
    cudaGraphDestroy(graph);
    CHECK(cudaStreamSynchronize(st.s) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(std::isnan(d.download()[0]));  // the captured fill was never launched: a fresh block's poison
  }
}

TEST_CASE("graphs: work on the legacy stream while a blocking stream captures", "[emu][graphs]") {
  const int n = 64;
  EmuTest t;
  Stream blocking(cudaStreamDefault);
  DeviceArray d(n);
  REQUIRE(cudaStreamBeginCapture(blocking.s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
  check_error(planted::fill(d.get(), n, 1.f, nullptr), cudaErrorStreamCaptureImplicit,
              {"legacy default stream", "blocking stream"});
  check_invalidated(blocking.s, "legacy default stream");
  check_error(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal), cudaErrorStreamCaptureUnsupported,
              {"legacy default stream"});
}
