// bench_ddp: what data-parallel training costs on the CPU (docs/distributed.md). Run it under
// mpirun with N ranks, or alone (a world of one, no collectives) for the one-process figure:
//
//   mpirun -np 2 --bind-to none -x OMP_NUM_THREADS=1 build/bench/bench_ddp [--batch 16] [--steps 10]
//   OMP_NUM_THREADS=2 build/bench/bench_ddp --batch 32
//
// Each rank trains resnet18(1, 7, --width) on random 1x64x64 images, --batch per rank, through
// DistributedDataParallel (gradients averaged in buckets during backward) and SGD. Printed by
// rank 0, after --warmup untimed steps, as medians over the --steps timed ones (each the slowest
// rank's, since a step ends for all at the last collective):
//   step          forward + loss + backward (with the reduction) + optimiser step
//   exposed wait  what backward waited for the reduction after its last gradient was ready
//                 (the part of the collectives that did not overlap with backward)
//   all_reduce    one all_reduce (average) of a buffer as large as all the gradients, alone,
//                 between the steps: the communication of a step if none of it overlapped
// and the global rate (images of every rank per second).
#include <omp.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.h"
#include "minidl/core/distributed.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/layers/distributed_data_parallel.h"
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"

using namespace minidl;
namespace mb = minidl::bench;

namespace {

constexpr std::int64_t kSize = 64, kClasses = 7;

void usage() {
  std::printf(
      "bench_ddp [--batch B] [--width W] [--steps N] [--warmup N]\n"
      "  Data-parallel training step on the CPU: step time, exposed wait, all_reduce of the\n"
      "  gradients alone. Under mpirun -np N for N ranks; alone for one process.\n"
      "  --batch   images per rank per step (default 16)\n"
      "  --width   channels of resnet18's first stage (default 64, the FER model)\n"
      "  --steps   timed steps (default 10); --warmup untimed ones first (default 2)\n");
}

// The slowest rank's value: a step is over for all when the last rank is.
double max_over_ranks(dist::ProcessGroup& g, double v) {
  // The group's collectives only sum: each rank fills its own slot, the sum gathers them.
  Tensor slots = Tensor::zeros({g.size()}, DType::Float64);
  slots.data<double>()[g.rank()] = v;
  g.all_reduce(slots);
  double m = 0;
  for (double x : slots.to_vector<double>()) m = std::max(m, x);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  long long batch = 16, width = 64;
  int steps = 10, warmup = 2;
  for (mb::Args a{argc, argv}; a.i < argc; ++a.i) {
    const std::string f = a.flag();
    if (f == "--batch") batch = std::stoll(a.value());
    else if (f == "--width") width = std::stoll(a.value());
    else if (f == "--steps") steps = std::stoi(a.value());
    else if (f == "--warmup") warmup = std::stoi(a.value());
    else if (f == "--help" || f == "-h") return usage(), 0;
    else a.unknown();
  }
  dist::ProcessGroup& g = dist::world();
  const bool main_rank = g.is_main();
  if (main_rank) {
    mb::print_machine("bench_ddp");
    std::printf("ranks: %d (backend %s), %lld images per rank per step (global batch %lld), resnet18 width %lld, "
                "input 1x%lldx%lld; %d warm-up + %d timed steps; load average %s\n",
                g.size(), g.backend(Device::cpu()).c_str(), batch, batch * g.size(), width,
                static_cast<long long>(kSize), static_cast<long long>(kSize), warmup, steps,
                mb::load_average().c_str());
  }

  manual_seed(1);
  auto model = resnet18(1, kClasses, width);
  model->train();
  DistributedDataParallel ddp(*model, g);
  SGD opt(model->named_parameters(), SGDOptions(0.01).momentum(0.9).weight_decay(5e-4));
  Generator gen(100 + static_cast<std::uint64_t>(g.rank()));
  const Tensor x = Tensor::randn({batch, 1, kSize, kSize}, gen);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(batch));
  for (auto& v : labels) v = static_cast<std::int64_t>(gen.randint(kClasses));
  const Tensor y = Tensor::from_vector(labels);
  std::int64_t grad_elements = 0;
  for (const Tensor& p : model->parameters()) grad_elements += p.numel();
  Tensor flat = Tensor::zeros({grad_elements}, DType::Float32);

  std::vector<double> step_s, wait_s, reduce_s;
  for (int i = 0; i < warmup + steps; ++i) {
    g.barrier();
    const double t0 = mb::now_s();
    opt.zero_grad();
    cross_entropy(ddp.forward(x), y).backward();
    ddp.synchronize();
    opt.step();
    const double step = mb::now_s() - t0;
    const double wait = ddp.last_exposed_wait_seconds();
    g.barrier();
    const double t1 = mb::now_s();
    g.all_reduce(flat, dist::ReduceOp::Average);
    const double reduce = mb::now_s() - t1;
    if (i < warmup) continue;
    step_s.push_back(max_over_ranks(g, step));
    wait_s.push_back(max_over_ranks(g, wait));
    reduce_s.push_back(max_over_ranks(g, reduce));
  }
  if (main_rank) {
    const double step = mb::median(step_s), wait = mb::median(wait_s), reduce = mb::median(reduce_s);
    std::printf("gradients: %lld floats (%.1f MB) in %zu buckets\n", static_cast<long long>(grad_elements),
                static_cast<double>(grad_elements) * 4 / 1e6, ddp.num_buckets());
    std::printf("step:          %8.1f ms  (median; %.1f global images/s)\n", step * 1e3,
                static_cast<double>(batch * g.size()) / step);
    std::printf("exposed wait:  %8.1f ms  (%.1f%% of the step)\n", wait * 1e3, 100 * wait / step);
    std::printf("all_reduce:    %8.1f ms  (%.1f%% of the step; the gradients' volume alone)\n", reduce * 1e3,
                100 * reduce / step);
  }
  dist::finalize();
  return 0;
}
