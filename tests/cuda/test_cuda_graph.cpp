// CUDA graphs (core/cuda_graph.h, layers/graphed_step.h): a captured training step replayed per
// batch gives the eager step's losses and parameters bit for bit, with a learning rate that
// changes on the way; memory the capture used is not handed to anyone else while the graph lives;
// a host synchronisation inside a capture is an error that names it. Skipped without a GPU; run
// on the CUDA emulator by scripts/emu.sh.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "minidl/core/cuda_graph.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/layers/graphed_step.h"
#include "minidl/layers/loss.h"
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"
#include "support.h"

using namespace minidl;

namespace {
bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(Device::cpu()), y = b.to(Device::cpu());
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

// The learning rate of step i: a step schedule that changes twice after the warm-up.
double lr_at(int step) { return step < 4 ? 0.05 : step < 6 ? 0.02 : 0.01; }
}  // namespace

TEST_CASE("cuda graphs: a captured training step gives the eager step's losses and parameters as the lr changes",
          "[cuda][graph]") {
  if (test::no_gpu()) return;
  const Device gpu = Device::cuda();
  manual_seed(31);
  auto eager_model = resnet18(1, 7, 8);
  manual_seed(31);
  auto graphed_model = resnet18(1, 7, 8);
  eager_model->to(gpu);
  graphed_model->to(gpu);
  const SGDOptions opts = SGDOptions(lr_at(0)).momentum(0.9).weight_decay(5e-4);
  SGD eager_opt(eager_model->named_parameters(), opts), graphed_opt(graphed_model->named_parameters(), opts);
  CrossEntropyLoss loss_fn;
  // The whole step: forward, loss, backward, clipping, optimiser.
  auto make_step = [&](std::shared_ptr<ResNet>& model, SGD& opt) {
    return [&](const std::vector<Tensor>& in) {
      opt.zero_grad();
      Tensor loss = loss_fn(model->forward(in[0]), in[1]);
      loss.backward();
      clip_grad_norm_(model->parameters(), 1.0);
      opt.step();
      return loss;
    };
  };
  auto eager_step = make_step(eager_model, eager_opt);
  GraphedStep graphed(*graphed_model, graphed_opt,
                      {Tensor::zeros({8, 1, 32, 32}, DType::Float32, gpu), Tensor::zeros({8}, DType::Int64, gpu)},
                      make_step(graphed_model, graphed_opt), /*warmup_steps=*/2);

  Generator gen(32);
  const int steps = 7;
  for (int i = 0; i < steps; ++i) {
    eager_opt.set_lr(lr_at(i));
    graphed_opt.set_lr(lr_at(i));
    const Tensor x = Tensor::uniform({8, 1, 32, 32}, 0, 1, gen).to(gpu);
    std::vector<std::int64_t> labels(8);
    for (int r = 0; r < 8; ++r) labels[r] = (r * 3 + i) % 7;
    const Tensor y = Tensor::from_vector<std::int64_t>(labels).to(gpu);
    // Interleaved, so that the eager step's allocations come between the graph's replays (the
    // next test is the one that shows a block the graph writes being handed out: with the pool
    // broken, this one happened to pass).
    const Tensor eager_loss = eager_step({x, y});
    const Tensor graphed_loss = graphed({x, y});
    INFO("step " << i << ": eager loss " << eager_loss.item() << ", graphed loss " << graphed_loss.item());
    CHECK(same_bits(graphed_loss, eager_loss));
  }
  CHECK(graphed.eager_steps() == 2);
  CHECK(graphed.captures() == 3);  // after the warm-up, and at each of the two lr changes
  CHECK(graphed.replays() == steps - 2);
  CHECK(graphed_opt.steps() == steps);
  const auto pe = eager_model->named_parameters(), pg = graphed_model->named_parameters();
  REQUIRE(pe.size() == pg.size());
  for (std::size_t i = 0; i < pe.size(); ++i) {
    INFO(pe[i].first);
    CHECK(same_bits(pg[i].second, pe[i].second));
  }
  // Batch norm's running statistics, and its host-side num_batches_tracked (7 on both).
  const auto be = eager_model->named_buffers(), bg = graphed_model->named_buffers();
  REQUIRE(be.size() == bg.size());
  for (std::size_t i = 0; i < be.size(); ++i) {
    INFO(be[i].first);
    CHECK(same_bits(bg[i].second, be[i].second));
  }
  // A batch of another shape is not replayed: the error says so.
  CHECK_THROWS_WITH(graphed({Tensor::zeros({3, 1, 32, 32}, DType::Float32, gpu), Tensor::zeros({3}, DType::Int64, gpu)}),
                    Catch::Matchers::Contains("static shape is float32[8, 1, 32, 32]"));
}

TEST_CASE("cuda graphs: memory the capture used is not handed out while the graph lives", "[cuda][graph]") {
  if (test::no_gpu()) return;
  const Device gpu = Device::cuda();
  const Tensor x = Tensor::full({4096}, 1.5, DType::Float32, gpu);
  CUDAGraph graph;
  graph.capture_begin(gpu);
  Tensor y;
  {
    const Tensor doubled = x + x;  // freed inside the capture; the graph writes it at each replay
    y = relu(doubled);
  }
  graph.capture_end();
  // Allocations after the capture, of the size the capture freed: none may get its block.
  std::vector<Tensor> others;
  for (int i = 0; i < 4; ++i) others.push_back(Tensor::full({4096}, -7.0, DType::Float32, gpu));
  x.fill_(2.0);
  graph.replay();
  CHECK(y.to_vector<float>() == std::vector<float>(4096, 4.f));
  for (const Tensor& t : others) CHECK(t.to_vector<float>() == std::vector<float>(4096, -7.f));
  graph.reset();
  CHECK_FALSE(graph.captured());
}

TEST_CASE("cuda graphs: a host synchronisation inside the capture is an error naming it", "[cuda][graph]") {
  if (test::no_gpu()) return;
  const Device gpu = Device::cuda();
  const Tensor x = Tensor::full({16}, 3.0, DType::Float32, gpu);
  CUDAGraph graph;
  graph.capture_begin(gpu);
  const Tensor s = sum(x);
  // item() copies the value out and waits for it: refused while the stream captures.
  CHECK_THROWS_WITH(s.item(), Catch::Matchers::Contains("capturing"));
  graph.capture_abort();
  CHECK_FALSE(graph.captured());
  CHECK_FALSE(graph.capturing());
  // The stream works as before.
  CHECK(sum(x).item() == 48.0);
}
