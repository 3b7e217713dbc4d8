// The data-parallel case that both sides of the MPI tests run: a width-4 ResNet-18 on one batch
// of B random 32x32 images, a few SGD steps. minidl_mpi_worker runs it on each rank with its
// share of the batch under DistributedDataParallel (and SyncBatchNorm); the test runs it in one
// process on the whole batch as the reference.
#pragma once

#include <map>
#include <string>

#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/layers/distributed_data_parallel.h"
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"

namespace minidl::test {

struct DdpCase {
  static constexpr std::int64_t kBatch = 8, kSize = 32, kWidth = 4, kSteps = 4;

  // The same initial weights in every process (and rank 0's are broadcast anyway).
  static std::shared_ptr<ResNet> model() {
    manual_seed(11);
    return resnet18(1, 7, kWidth);
  }
  // Images [first, first + count) of the case's batch, and their labels.
  static std::pair<Tensor, Tensor> batch(std::int64_t first, std::int64_t count) {
    Generator g(5);
    Tensor all = Tensor::randn({kBatch, 1, kSize, kSize}, g);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i) labels[static_cast<std::size_t>(i)] = (first + i) * 3 % 7;
    return {all.narrow0(first, count).clone(), Tensor::from_vector(labels)};
  }

  // kSteps SGD steps (momentum, weight decay) on (x, y); through ddp when given. Returns the
  // first step's gradients as "grad.<name>" and the final state_dict as "state.<name>".
  static std::map<std::string, Tensor> run(ResNet& model, const Tensor& x, const Tensor& y,
                                           DistributedDataParallel* ddp) {
    SGD opt(model.named_parameters(), SGDOptions(0.05).momentum(0.9).weight_decay(5e-4));
    model.train();
    std::map<std::string, Tensor> out;
    for (std::int64_t step = 0; step < kSteps; ++step) {
      opt.zero_grad();
      Tensor logits = ddp ? ddp->forward(x) : model.forward(x);
      cross_entropy(logits, y).backward();
      if (ddp) ddp->synchronize();
      if (step == 0)
        for (const auto& [name, p] : model.named_parameters()) out["grad." + name] = p.grad().clone();
      opt.step();
    }
    for (const auto& [name, t] : model.state_dict()) out["state." + name] = t.clone();
    return out;
  }
};

}  // namespace minidl::test
