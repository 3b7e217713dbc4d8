// No host synchronisation inside a training step: the loss, backward, gradient clipping and the
// optimiser step leave every value where it was computed. On a GPU a read into the host waits
// for the device; the counter (host_reads()) counts them for CPU tensors too, so this test on
// the CPU catches a read that would stall a GPU (test_cuda_training.cpp counts the real
// synchronisations on a GPU).
#include <catch2/catch.hpp>

#include <cmath>

#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/layers/loss.h"
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"

using namespace minidl;
using Catch::Matchers::Contains;

TEST_CASE("a training step reads nothing back to the host", "[ops][sync]") {
  manual_seed(31);
  auto model = resnet18(1, 7, 8);
  Generator gen(32);
  const Tensor x = Tensor::uniform({4, 1, 32, 32}, 0, 1, gen);
  const Tensor y = Tensor::from_vector<std::int64_t>({0, 3, 6, 1});
  CrossEntropyLoss loss_fn;
  SGD sgd(model->named_parameters(), SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
  AdamW adamw(model->named_parameters(), AdamWOptions(1e-3).betas(0.9, 0.999).eps(1e-8).weight_decay(1e-2));
  for (Optimizer* opt : {static_cast<Optimizer*>(&sgd), static_cast<Optimizer*>(&adamw)}) {
    for (int step = 0; step < 2; ++step) {
      const std::uint64_t before = host_reads();
      opt->zero_grad();
      Tensor loss = loss_fn(model->forward(x), y);
      loss.backward();
      const Tensor norm = clip_grad_norm_(model->parameters(), 0.5);
      opt->step();
      CHECK(host_reads() == before);
      // Reading the results is what counts, once each.
      CHECK(std::isfinite(loss.item()));
      CHECK(norm.item() > 0.0);
      CHECK(host_reads() == before + 2);
    }
  }
}

TEST_CASE("sum and mean backward read the upstream gradient in place", "[ops][sync]") {
  Tensor a = Tensor::from_vector<double>({1, -2, 3}).requires_grad_();
  const std::uint64_t before = host_reads();
  mul(mean(a), 3.0).backward();
  sum(a).backward();
  CHECK(host_reads() == before);
  CHECK(a.grad().to_vector<double>() == std::vector<double>{2, 2, 2});
}

TEST_CASE("cross_entropy on the CPU names the row and value of a bad target at once", "[ops][sync]") {
  const Tensor logits = Tensor::zeros({3, 4}, DType::Float32);
  CHECK_THROWS_WITH(cross_entropy(logits, Tensor::from_vector<std::int64_t>({0, 4, 1})),
                    Contains("cross_entropy: the target of row 1 is 4, outside the 4 classes [0, 4)"));
  CHECK_THROWS_WITH(cross_entropy(logits, Tensor::from_vector<std::int64_t>({-1, 0, 1})),
                    Contains("row 0 is -1"));
  // The check leaves nothing behind: a good call afterwards works.
  CHECK(cross_entropy(logits, Tensor::from_vector<std::int64_t>({0, 1, 2})).item() == Approx(std::log(4.0)));
}
