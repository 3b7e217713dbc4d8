// Streams and events: work runs when the host synchronises, reading results early is caught,
// and a block reused by another stream while queued work still uses it is a race.
#include "planted.h"
#include "util.h"

namespace {
struct Streams {
  cudaStream_t a = nullptr, b = nullptr;
  Streams() {
    REQUIRE(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking) == cudaSuccess);
    REQUIRE(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking) == cudaSuccess);
  }
  ~Streams() {
    cudaStreamDestroy(a);
    cudaStreamDestroy(b);
  }
};
struct Pinned {
  float* p = nullptr;
  explicit Pinned(std::size_t n) { REQUIRE(cudaMallocHost(reinterpret_cast<void**>(&p), n * 4) == cudaSuccess); }
  ~Pinned() { cudaFreeHost(p); }
};
emu::Settings async(bool on) {
  emu::Settings s = emu::settings();
  s.async = on;
  s.check_host = on;
  return s;
}
// What the pinned-buffer tests share: the asynchronous emulator, two streams, and n floats on the
// device and in pinned host memory.
struct PinnedCopy {
  static constexpr int n = 1024;
  EmuTest t{async(true)};
  Streams st;
  DeviceArray d{n};
  Pinned h{n};
};
}  // namespace

TEST_CASE_METHOD(PinnedCopy, "streams: reading a pinned copy's destination before synchronising", "[emu][streams]") {
  REQUIRE(planted::fill(d.get(), n, 3.f, st.a) == cudaSuccess);
  REQUIRE(cudaMemcpyAsync(h.p, d.get(), n * 4, cudaMemcpyDeviceToHost, st.a) == cudaSuccess);
  const float early = *static_cast<volatile float*>(h.p + 5);  // the bug: no cudaStreamSynchronize first
  CHECK(std::isnan(early));
  check_error(cudaStreamSynchronize(st.a), cudaErrorUnknown, {"byte 20 of a pinned buffer", "synchronise the stream"});

  // With every call run as it is made (the old emulator), the early read happens to work.
  t.set(async(false));
  REQUIRE(planted::fill(d.get(), n, 3.f, st.a) == cudaSuccess);
  REQUIRE(cudaMemcpyAsync(h.p, d.get(), n * 4, cudaMemcpyDeviceToHost, st.a) == cudaSuccess);
  CHECK(*static_cast<volatile float*>(h.p + 5) == 3.f);
  CHECK(cudaStreamSynchronize(st.a) == cudaSuccess);
}

TEST_CASE("streams: reading a pageable copy's destination before synchronising", "[emu][streams]") {
  const int n = 1024;
  EmuTest t(async(true));
  Streams st;
  DeviceArray d(n);
  std::vector<float> h(n, 0.f);
  REQUIRE(planted::fill(d.get(), n, 3.f, st.a) == cudaSuccess);
  REQUIRE(cudaMemcpyAsync(h.data(), d.get(), n * 4, cudaMemcpyDeviceToHost, st.a) == cudaSuccess);
  CHECK(std::isnan(h[5]));  // the copy has not run: the destination holds poison
  REQUIRE(cudaStreamSynchronize(st.a) == cudaSuccess);
  CHECK(h[5] == 3.f);
}

TEST_CASE_METHOD(PinnedCopy, "streams: the host writing a pinned buffer a queued copy still reads", "[emu][streams]") {
  for (int i = 0; i < n; ++i) h.p[i] = 1.f;
  REQUIRE(cudaMemcpyAsync(d.get(), h.p, n * 4, cudaMemcpyHostToDevice, st.a) == cudaSuccess);
  static_cast<volatile float*>(h.p)[0] = 2.f;  // the bug: the next batch goes in before the copy ran
  check_error(cudaStreamSynchronize(st.a), cudaErrorUnknown, {"the host wrote byte 0 of a pinned buffer"});

  t.set(async(false));
  REQUIRE(cudaMemcpyAsync(d.get(), h.p, n * 4, cudaMemcpyHostToDevice, st.a) == cudaSuccess);
  h.p[0] = 2.f;
  CHECK(cudaStreamSynchronize(st.a) == cudaSuccess);
}

TEST_CASE("streams: a block reused by another stream while queued work still reads it", "[emu][streams]") {
  const int n = 4096;
  const std::vector<float> next = iota_values(n);
  emu::Settings races = emu::settings();
  races.check_races = true;
  EmuTest t(races);
  Streams st;
  DeviceArray block(iota_values(n)), out(n);
  cudaEvent_t done;
  REQUIRE(cudaEventCreate(&done) == cudaSuccess);

  SECTION("without an event: a race") {
    REQUIRE(planted::copy_kernel(block.get(), out.get(), n, st.a) == cudaSuccess);  // queued work reads `block`
    // `block` freed to a caching allocator and handed out again, filled on the other stream:
    check_error(cudaMemcpyAsync(block.get(), next.data(), n * 4, cudaMemcpyHostToDevice, st.b), cudaErrorUnknown,
                {"race between streams", "copy_kernel_"});
  }
  SECTION("ordered by an event: fine") {
    REQUIRE(planted::copy_kernel(block.get(), out.get(), n, st.a) == cudaSuccess);
    REQUIRE(cudaEventRecord(done, st.a) == cudaSuccess);
    REQUIRE(cudaStreamWaitEvent(st.b, done, 0) == cudaSuccess);
    CHECK(cudaMemcpyAsync(block.get(), next.data(), n * 4, cudaMemcpyHostToDevice, st.b) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
  }
  SECTION("on the same stream: stream order is enough") {
    REQUIRE(planted::copy_kernel(block.get(), out.get(), n, st.a) == cudaSuccess);
    CHECK(cudaMemcpyAsync(block.get(), next.data(), n * 4, cudaMemcpyHostToDevice, st.a) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
  }
  SECTION("after the host synchronised: fine") {
    REQUIRE(planted::copy_kernel(block.get(), out.get(), n, st.a) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(st.a) == cudaSuccess);
    CHECK(cudaMemcpyAsync(block.get(), next.data(), n * 4, cudaMemcpyHostToDevice, st.b) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
  }
  SECTION("without the check: unnoticed") {
    races.check_races = false;
    t.set(races);
    REQUIRE(planted::copy_kernel(block.get(), out.get(), n, st.a) == cudaSuccess);
    CHECK(cudaMemcpyAsync(block.get(), next.data(), n * 4, cudaMemcpyHostToDevice, st.b) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
  }
  cudaEventDestroy(done);
}
