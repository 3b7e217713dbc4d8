// CUDA graphs (core/cuda_graph.h, layers/graphed_step.h): a captured training step replayed per
// batch gives the eager step's losses and parameters bit for bit, for SGD and AdamW, with a
// learning rate that changes every step and one capture (the optimisers read it from device
// memory); memory the capture used is not handed to anyone else while the graph lives;
// a host synchronisation inside a capture is an error that names it. Skipped without a GPU; run
// on the CUDA emulator by scripts/emu.sh.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "minidl/core/cuda_graph.h"
#include "minidl/core/ops.h"
#include "minidl/core/optim_step.h"
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

// The learning rate of step i: a different one at every step (as cosine or one-cycle give), so a
// replay that used the captured rate, or the previous step's, would drift from the eager run.
double lr_at(int step) { return 0.05 / (1.0 + 0.37 * step); }

// Trains two equal ResNets on the same batches, one eagerly and one through a GraphedStep,
// setting the learning rate of step i before it, and checks losses, parameters, optimiser state
// and batch-norm buffers agree bit for bit with one capture for the whole run.
template <typename Opt, typename Options>
void check_graphed_matches_eager(const Options& opts) {
  const Device gpu = Device::cuda();
  manual_seed(31);
  auto eager_model = resnet18(1, 7, 8);
  manual_seed(31);
  auto graphed_model = resnet18(1, 7, 8);
  eager_model->to(gpu);
  graphed_model->to(gpu);
  Opt eager_opt(eager_model->named_parameters(), opts), graphed_opt(graphed_model->named_parameters(), opts);
  CrossEntropyLoss loss_fn;
  // The whole step: forward, loss, backward, clipping, optimiser.
  auto make_step = [&](std::shared_ptr<ResNet>& model, Opt& opt) {
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
  // Every group is on the GPU, so nothing is left by value to compare before a replay.
  CHECK(graphed_opt.step_scalars().empty());

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
  CHECK(graphed.captures() == 1);  // the rate (and AdamW's step) change in device memory only
  CHECK(graphed.replays() == steps - 2);
  CHECK(graphed_opt.steps() == steps);
  const auto pe = eager_model->named_parameters(), pg = graphed_model->named_parameters();
  REQUIRE(pe.size() == pg.size());
  for (std::size_t i = 0; i < pe.size(); ++i) {
    INFO(pe[i].first);
    CHECK(same_bits(pg[i].second, pe[i].second));
  }
  const auto se = eager_opt.state_dict(), sg = graphed_opt.state_dict();
  REQUIRE(se.size() == sg.size());
  for (std::size_t i = 0; i < se.size(); ++i) {
    INFO(se[i].first);
    CHECK(same_bits(sg[i].second, se[i].second));
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
}  // namespace

TEST_CASE("cuda graphs: a captured SGD step gives the eager step's losses and parameters as the lr changes every step",
          "[cuda][graph]") {
  if (test::no_gpu()) return;
  check_graphed_matches_eager<SGD>(SGDOptions(lr_at(0)).momentum(0.9).weight_decay(5e-4));
}

TEST_CASE("cuda graphs: a captured AdamW step follows its step count and an lr that changes every step",
          "[cuda][graph]") {
  if (test::no_gpu()) return;
  check_graphed_matches_eager<AdamW>(AdamWOptions(lr_at(0)).weight_decay(1e-2));
}

TEST_CASE("cuda graphs: optimiser kernels reading their numbers from device memory match the by-value ones bit for bit",
          "[cuda][graph]") {
  if (test::no_gpu()) return;
  const Device gpu = Device::cuda();
  Generator gen(7);
  const Tensor p0 = Tensor::uniform({5000}, -1, 1, gen), g0 = Tensor::uniform({5000}, -1, 1, gen);
  // Two copies of one parameter with its state; one steps with the numbers by value, the other
  // with them written to device memory first.
  struct Copy {
    Tensor p, g, m, v;
  };
  auto make = [&]() {
    return Copy{p0.to(gpu), g0.to(gpu), Tensor::zeros({5000}, DType::Float32, gpu),
                Tensor::zeros({5000}, DType::Float32, gpu)};
  };
  Copy a = make(), b = make(), c = make(), d = make();
  const Tensor sgd_scalars = Tensor::empty({kSgdStepScalars}, DType::Float64, gpu);
  const Tensor adamw_scalars = Tensor::empty({kAdamWStepScalars}, DType::Float64, gpu);
  for (int t = 1; t <= 4; ++t) {
    const SgdStepOptions so{0.1 / (1.0 + 0.37 * t), 0.9, 0.0, 5e-4 * t, t % 2 == 0};
    sgd_step_({{a.p, a.g, a.m, Tensor()}}, so, t == 1);
    write_sgd_scalars_(sgd_scalars, so);
    sgd_step_({{b.p, b.g, b.m, Tensor()}}, so, t == 1, sgd_scalars);
    const AdamWStepOptions ao{1e-3 * t, 0.9, 0.999, 1e-8, 1e-2, t};
    adamw_step_({{c.p, c.g, c.m, c.v}}, ao);
    write_adamw_scalars_(adamw_scalars, ao);
    adamw_step_({{d.p, d.g, d.m, d.v}}, ao, adamw_scalars);
  }
  CHECK(same_bits(a.p, b.p));
  CHECK(same_bits(a.m, b.m));
  CHECK(same_bits(c.p, d.p));
  CHECK(same_bits(c.v, d.v));
  CHECK_FALSE(same_bits(a.p, p0.to(gpu)));  // the steps did change the parameters
  CHECK_THROWS_WITH(sgd_step_({{a.p, a.g, a.m, Tensor()}}, SgdStepOptions{}, false, adamw_scalars),
                    Catch::Matchers::Contains("must be a float64 tensor of 2 elements"));
}

TEST_CASE("cuda graphs: an optimiser step captured without its per-step numbers written is an error naming the fix",
          "[cuda][graph]") {
  if (test::no_gpu()) return;
  const Device gpu = Device::cuda();
  Tensor w = Tensor::ones({4}, DType::Float32, gpu).requires_grad_(true);
  SGD opt(NamedTensors{{"w", w}}, SGDOptions(0.1));
  w.set_grad(Tensor::ones({4}, DType::Float32, gpu));
  CUDAGraph g;
  g.capture_begin(gpu);
  CHECK(is_current_stream_capturing(gpu));
  CHECK_THROWS_WITH(opt.step(), Catch::Matchers::Contains("call write_step_scalars() before the capture"));
  CHECK_THROWS_WITH(opt.write_step_scalars(), Catch::Matchers::Contains("is capturing a CUDA graph"));
  g.capture_abort();
  CHECK_FALSE(is_current_stream_capturing(gpu));
  // Written before the capture, the step captures; the replay uses the rate written before it.
  opt.write_step_scalars();
  g.capture_begin(gpu);
  opt.step();
  g.capture_end();
  opt.set_lr(0.25);
  opt.write_step_scalars();
  g.replay();
  const Tensor got = w.to(Device::cpu());
  for (int i = 0; i < 4; ++i) CHECK(got.data<float>()[i] == 1.0f - 0.25f);
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
