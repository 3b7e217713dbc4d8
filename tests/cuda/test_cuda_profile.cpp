// The GPU op profiler (kernels/cuda_profile.h, bench_train --device cuda --profile): each op
// dispatched on a GPU tensor is counted once, by name, with the device time between its first
// and last work; nothing while it is off, nothing inside another op, nothing while the stream is
// captured into a CUDA graph. Skipped without a GPU; runs under the CUDA emulator.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "minidl/config.h"
#include "support.h"

#if MINIDL_WITH_CUDA

#include "minidl/core/cuda_graph.h"
#include "minidl/core/extension.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/kernels/cuda_profile.h"
#include "minidl/kernels/runtime.h"

using namespace minidl;
namespace prof = minidl::kernels::cuda::profile;

namespace {

// The profiler is process-wide: each test starts from a clean, switched-off one and leaves it so.
struct CleanProfiler {
  CleanProfiler() {
    prof::enable(false);
    prof::reset();
  }
  ~CleanProfiler() {
    prof::enable(false);
    prof::reset();
  }
};

const prof::Total* find(const std::vector<prof::Total>& totals, const std::string& name) {
  for (const prof::Total& t : totals)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace

TEST_CASE("cuda: the op profiler counts each GPU op by name, with its device time, only while on",
          "[cuda][profile]") {
  if (test::no_gpu()) return;
  CleanProfiler clean;
  Generator gen(3);
  const Tensor x = Tensor::randn({8, 16, 12, 12}, gen).to(Device::cuda());
  const Tensor w = Tensor::randn({32, 16, 3, 3}, gen).to(Device::cuda());

  relu(x);  // off: not counted
  kernels::cuda::synchronize(0);
  CHECK(prof::totals().empty());

  prof::enable(true);
  relu(x);
  relu(x);
  conv2d(x, w, Tensor(), Conv2dOptions{{1, 1}, {1, 1}, {1, 1}, 1});
  prof::enable(false);
  relu(x);  // off again
  const std::vector<prof::Total> totals = prof::totals();
  REQUIRE(totals.size() == 2);
  CHECK(totals[0].name == "relu");  // first-seen order
  CHECK(totals[0].calls == 2);
  CHECK(totals[1].name == "conv2d");
  CHECK(totals[1].calls == 1);
  for (const prof::Total& t : totals) {
    INFO(t.name);
    CHECK(std::isfinite(t.gpu_s));
    CHECK(t.gpu_s >= 0);
  }
  CHECK(totals[1].gpu_s > 0);  // a 3x3 convolution of 8 images is not free on any device

  prof::reset();
  CHECK(prof::totals().empty());
}

TEST_CASE("cuda: the op profiler counts an op that runs another op once, under the outer name",
          "[cuda][profile]") {
  if (test::no_gpu()) return;
  CleanProfiler clean;
  const Tensor x = Tensor::ones({1000}).to(Device::cuda());
  prof::enable(true);
  // An op outside the library (core/extension.h) whose GPU branch calls relu.
  extension::dispatch("outer_op", x, [&](auto, auto) { relu(x); });
  relu(x);
  prof::enable(false);
  const std::vector<prof::Total> totals = prof::totals();
  REQUIRE(totals.size() == 2);
  CHECK(totals[0].name == "outer_op");
  CHECK(totals[0].calls == 1);
  REQUIRE(find(totals, "relu") != nullptr);
  CHECK(find(totals, "relu")->calls == 1);  // the call outside outer_op only
}

TEST_CASE("cuda: the op profiler leaves a CUDA graph capture alone, and the graph replays", "[cuda][profile]") {
  if (test::no_gpu()) return;
  CleanProfiler clean;
  const Tensor x = Tensor::full({1000}, -1.0f).to(Device::cuda());
  Tensor y = relu(x);  // the allocation outside the capture, as a warm-up would make it
  prof::enable(true);
  CUDAGraph graph;
  graph.capture_begin(Device::cuda());
  y = relu(x);
  graph.capture_end();
  prof::enable(false);
  CHECK(prof::totals().empty());  // the capture ran nothing to time
  graph.replay();
  const std::vector<float> got = y.to(Device::cpu()).to_vector<float>();
  CHECK(got.front() == 0.f);
  CHECK(got.back() == 0.f);
}

#endif  // MINIDL_WITH_CUDA
