// The parts of data-parallel training that need no second process: the autograd hook DDP hangs
// its reduction on, the distributed sampler (every rank simulated in one process), SyncBatchNorm's
// arithmetic (its kernels on two halves of a batch against batch_norm on the whole), and
// DistributedDataParallel in a world of one. These run in every build, with or without MPI.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "../core/gradcheck.h"
#include "../support/support.h"
#include "minidl/config.h"
#include "minidl/core/distributed.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/data/sampler.h"
#include "minidl/kernels/sync_batch_norm.h"
#include "minidl/layers/batch_norm.h"
#include "minidl/layers/distributed_data_parallel.h"
#include "minidl/layers/linear.h"
#include "minidl/models/resnet.h"

using namespace minidl;
using Catch::Matchers::Contains;

namespace {

// x -> relu(x w1^T) w2^T summed; w1 is used twice (add), so its gradient has two contributions.
struct TwoLayers {
  Tensor w1, w2;
  TwoLayers() {
    Generator g(3);
    w1 = Tensor::randn({4, 3}, g, DType::Float64).requires_grad_();
    w2 = Tensor::randn({2, 4}, g, DType::Float64).requires_grad_();
  }
  Tensor loss(const Tensor& x) const {
    Tensor h = relu(add(linear(x, w1), linear(x, w1)));
    return sum(linear(h, w2));
  }
};

std::vector<double> vec(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }

}  // namespace

TEST_CASE("autograd: a post-accumulate-grad hook runs once per backward, with the final gradient, before the "
          "earlier layers' backward",
          "[distributed][autograd]") {
  TwoLayers m;
  Generator g(4);
  const Tensor x = Tensor::randn({5, 3}, g, DType::Float64);
  // The reference gradient, without hooks.
  m.loss(x).backward();
  const std::vector<double> want_w1 = vec(m.w1.grad()), want_w2 = vec(m.w2.grad());
  m.w1.set_grad(Tensor());
  m.w2.set_grad(Tensor());

  std::vector<std::string> events;
  std::vector<double> seen_w1;
  const int h1 = m.w1.register_post_accumulate_grad_hook([&](const Tensor& p) {
    events.push_back("w1");
    seen_w1 = vec(p.grad());
  });
  const int h2 = m.w2.register_post_accumulate_grad_hook([&](const Tensor&) {
    events.push_back("w2");
    // When w2's gradient is final, w1's is not yet there: backward is still running.
    CHECK_FALSE(m.w1.grad().defined());
  });
  m.loss(x).backward();
  REQUIRE(events == std::vector<std::string>{"w2", "w1"});
  CHECK(seen_w1 == want_w1);  // both contributions in, bit for bit
  CHECK(vec(m.w2.grad()) == want_w2);

  // Removed hooks do not run; a non-leaf cannot take one.
  m.w1.remove_post_accumulate_grad_hook(h1);
  m.w2.remove_post_accumulate_grad_hook(h2);
  events.clear();
  m.loss(x).backward();
  CHECK(events.empty());
  Tensor y = mul(m.w1, 2.0);
  CHECK_THROWS_WITH(y.register_post_accumulate_grad_hook([](const Tensor&) {}), Contains("not a leaf"));
}

TEST_CASE("DistributedSampler: shards are disjoint, cover the data (uneven) or are equal (training), and batch k of "
          "all ranks is batch k of one process with a batch ranks times larger",
          "[distributed][data]") {
  for (std::int64_t n : {1, 7, 10, 64, 101}) {
    for (std::int64_t world : {1, 2, 3, 4}) {
      for (bool equal : {true, false}) {
        if (equal && n < world) continue;
        INFO("n " << n << " world " << world << (equal ? " equal" : " uneven"));
        for (std::int64_t epoch : {0, 1, 5}) {
          const auto full = data::RandomSampler(n, 9).epoch_order(epoch);
          std::multiset<std::int64_t> all;
          std::vector<std::vector<std::int64_t>> shards;
          for (std::int64_t r = 0; r < world; ++r) {
            data::DistributedSampler s(std::make_unique<data::RandomSampler>(n, 9), world, r, equal);
            shards.push_back(s.epoch_order(epoch));
            CHECK(static_cast<std::int64_t>(shards.back().size()) == s.epoch_size());
            all.insert(shards.back().begin(), shards.back().end());
          }
          // Disjoint: no index twice.
          CHECK(std::set<std::int64_t>(all.begin(), all.end()).size() == all.size());
          if (equal) {
            for (const auto& sh : shards) CHECK(sh.size() == shards[0].size());
            CHECK(static_cast<std::int64_t>(all.size()) == n / world * world);
          } else {
            CHECK(static_cast<std::int64_t>(all.size()) == n);  // covers the data
          }
          // Position i of rank r's shard is position i * world + r of the one-process order.
          for (std::int64_t r = 0; r < world; ++r)
            for (std::size_t i = 0; i < shards[static_cast<std::size_t>(r)].size(); ++i)
              CHECK(shards[static_cast<std::size_t>(r)][i] == full[i * static_cast<std::size_t>(world) + static_cast<std::size_t>(r)]);
        }
      }
    }
  }
  CHECK_THROWS_WITH(data::DistributedSampler(std::make_unique<data::SequentialSampler>(4), 2, 2, true),
                    Contains("rank 2 is not in [0, 2)"));
}

TEMPLATE_TEST_CASE("SyncBatchNorm's kernels on two halves of a batch, sums added between them, give batch_norm of the "
                   "whole batch (forward, running statistics, backward)",
                   "[distributed][kernels]", float, double) {
  using T = TestType;
  const DType dt = dtype_v<T>;
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  const std::int64_t n = 6, c = 3, hw = 5, half = n / 2;
  Generator gen(8);
  // A mean far from zero: the two-pass variance must not cancel.
  Tensor x = Tensor::uniform({n, c, hw}, 50.0, 52.0, gen, dt);
  const Tensor gamma = Tensor::uniform({c}, 0.5, 1.5, gen, dt), beta = Tensor::randn({c}, gen, dt);
  const Tensor dy = Tensor::randn({n, c, hw}, gen, dt);

  // Reference: batch_norm on the whole batch, through the op.
  Tensor rm_ref = Tensor::zeros({c}, dt), rv_ref = Tensor::ones({c}, dt);
  Tensor xr = x.clone().requires_grad_(), gr = gamma.clone().requires_grad_(), br = beta.clone().requires_grad_();
  Tensor y_ref = batch_norm(xr.reshape({n, c, hw, 1}), rm_ref, rv_ref, gr, br, true, 0.1, 1e-5);
  y_ref.backward(dy.reshape({n, c, hw, 1}));

  // Two "ranks", each with half the images; the all-reduce is an addition done here.
  const kernels::BatchNormGeometry g{half, c, hw};
  const std::int64_t per = half * c * hw;
  std::vector<double> stats[2];
  for (auto& s : stats) s.assign(static_cast<std::size_t>(2 * c + 1), 0.0);
  auto add_parts = [&](std::size_t from, std::size_t count) {
    for (std::size_t i = from; i < from + count; ++i) stats[0][i] = stats[1][i] = stats[0][i] + stats[1][i];
  };
  for (int r = 0; r < 2; ++r) kernels::cpu::batch_norm_sums<T>(kernels::cpu::Stream{}, g, x.data<T>() + r * per, stats[r].data());
  add_parts(0, static_cast<std::size_t>(c + 1));
  for (int r = 0; r < 2; ++r) kernels::cpu::batch_norm_sq_dev<T>(kernels::cpu::Stream{}, g, x.data<T>() + r * per, stats[r].data());
  add_parts(static_cast<std::size_t>(c + 1), static_cast<std::size_t>(c));
  Tensor y = Tensor::empty({n, c, hw}, dt), mean[2], invstd[2], rm[2], rv[2], dx = Tensor::empty({n, c, hw}, dt);
  std::vector<double> local[2], global(static_cast<std::size_t>(2 * c), 0.0);
  for (int r = 0; r < 2; ++r) {
    mean[r] = Tensor::empty({c}, dt), invstd[r] = Tensor::empty({c}, dt);
    rm[r] = Tensor::zeros({c}, dt), rv[r] = Tensor::ones({c}, dt);
    kernels::cpu::batch_norm_apply_stats<T>(kernels::cpu::Stream{}, g, x.data<T>() + r * per, gamma.data<T>(), beta.data<T>(), stats[r].data(),
                                            1e-5, 0.1, rm[r].data<T>(), rv[r].data<T>(), y.data<T>() + r * per,
                                            mean[r].data<T>(), invstd[r].data<T>());
    local[r].assign(static_cast<std::size_t>(2 * c), 0.0);
    kernels::cpu::batch_norm_grad_sums<T>(kernels::cpu::Stream{}, g, dy.data<T>() + r * per, x.data<T>() + r * per, mean[r].data<T>(),
                                          local[r].data());
    for (std::size_t i = 0; i < global.size(); ++i) global[i] += local[r][i];
  }
  Tensor dgamma[2], dbeta[2];
  for (int r = 0; r < 2; ++r) {
    dgamma[r] = Tensor::empty({c}, dt), dbeta[r] = Tensor::empty({c}, dt);
    kernels::cpu::batch_norm_grad_apply<T>(kernels::cpu::Stream{}, g, dy.data<T>() + r * per, x.data<T>() + r * per, gamma.data<T>(),
                                           mean[r].data<T>(), invstd[r].data<T>(), local[r].data(), global.data(),
                                           stats[r].data(), dx.data<T>() + r * per, false, dgamma[r].data<T>(),
                                           dbeta[r].data<T>(), false);
  }
  auto close = [&](const std::vector<double>& got, const std::vector<double>& want, const char* what) {
    INFO(what);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= tol * (1 + std::abs(want[i])));
  };
  close(vec(y), vec(y_ref), "y");
  for (int r = 0; r < 2; ++r) {
    close(vec(rm[r]), vec(rm_ref), "running_mean");
    close(vec(rv[r]), vec(rv_ref), "running_var (unbiased over the global batch)");
  }
  close(vec(dx), vec(xr.grad()), "dx");
  // The ranks' parameter gradients are shares: their sum is the whole batch's.
  std::vector<double> dg(static_cast<std::size_t>(c)), db(static_cast<std::size_t>(c));
  for (int r = 0; r < 2; ++r)
    for (std::int64_t k = 0; k < c; ++k) {
      dg[static_cast<std::size_t>(k)] += vec(dgamma[r])[static_cast<std::size_t>(k)];
      db[static_cast<std::size_t>(k)] += vec(dbeta[r])[static_cast<std::size_t>(k)];
    }
  close(dg, vec(gr.grad()), "dgamma");
  close(db, vec(br.grad()), "dbeta");
}

TEST_CASE("gradcheck sync_batch_norm in a world of one (float64)", "[distributed][gradcheck]") {
  auto one = dist::single_process_group();
  Generator gen(12);
  Tensor rm = Tensor::zeros({3}, DType::Float64), rv = Tensor::ones({3}, DType::Float64);
  auto input = [&](const Shape& s) { return Tensor::randn(s, gen, DType::Float64).requires_grad_(); };
  test::gradcheck("sync_batch_norm 4d",
                  [&](const std::vector<Tensor>& in) { return sync_batch_norm(in[0], rm, rv, in[1], in[2], *one); },
                  {input({4, 3, 3, 2}), input({3}), input({3})});
  test::gradcheck("sync_batch_norm 2d, no affine",
                  [&](const std::vector<Tensor>& in) { return sync_batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), *one); },
                  {input({5, 3})});
}

TEST_CASE("DistributedDataParallel in a world of one: buckets in reverse order under the cap, gradients unchanged, "
          "unused parameters named",
          "[distributed]") {
  auto one = dist::single_process_group();
  manual_seed(2);
  auto model = resnet18(1, 7, 4);
  manual_seed(2);
  auto plain = resnet18(1, 7, 4);
  Generator g(1);
  const Tensor x = Tensor::randn({4, 1, 32, 32}, g);
  const Tensor y = Tensor::from_vector(std::vector<std::int64_t>{0, 3, 6, 2});

  DdpOptions opt;
  opt.first_bucket_cap_bytes = 4 << 10;
  opt.bucket_cap_bytes = 32 << 10;
  DistributedDataParallel ddp(*model, *one, opt);
  REQUIRE(ddp.num_buckets() > 3);
  // The first bucket starts from the last parameter (fc), so that it is ready first.
  CHECK(ddp.bucket_parameter_names(0).front() == "fc.bias");
  std::size_t params = 0;
  for (std::size_t b = 0; b < ddp.num_buckets(); ++b) params += ddp.bucket_parameter_names(b).size();
  CHECK(params == model->named_parameters().size());

  cross_entropy(ddp.forward(x), y).backward();
  ddp.synchronize();
  // Most buckets start while backward still runs (here, with nothing to wait for, as soon as the
  // buckets before them have started).
  std::printf("DDP world of one: %zu buckets, %zu started during backward\n", ddp.num_buckets(), ddp.overlapped_buckets());
  CHECK(ddp.overlapped_buckets() >= ddp.num_buckets() / 2);
  CHECK(ddp.overlapped_buckets() < ddp.num_buckets());
  cross_entropy(plain->forward(x), y).backward();
  const auto a = model->named_parameters(), b = plain->named_parameters();
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(vec(a[i].second.grad()) == vec(b[i].second.grad()));
  }

  // A module with a parameter the loss never reaches.
  struct Unused : Module {
    std::shared_ptr<Linear> used, idle;
    Unused() {
      register_module("used", used, std::make_shared<Linear>(3, 2));
      register_module("idle", idle, std::make_shared<Linear>(3, 2));
    }
    Tensor forward(const Tensor& in) override { return used->forward(in); }
    std::string type_name() const override { return "Unused"; }
  } m;
  DistributedDataParallel d2(m, *one);
  sum(d2.forward(Tensor::ones({2, 3}).requires_grad_())).backward();
  CHECK_THROWS_WITH(d2.synchronize(), Contains("no gradient for idle.bias, idle.weight"));
}

TEST_CASE("distributed: a process that no launcher started is a world of one, with or without MPI in the build",
          "[distributed]") {
  if (dist::launcher_world_size() != 0) return;  // under mpirun (by hand): nothing to check here
  dist::ProcessGroup& w = dist::world();
  CHECK(w.size() == 1);
  CHECK(w.rank() == 0);
  CHECK(w.backend(Device::cpu()) == "none");
  CHECK_FALSE(dist::initialized());
  Tensor t = Tensor::full({3}, 2.5);
  w.all_reduce(t, dist::ReduceOp::Average);
  CHECK(vec(t) == std::vector<double>{2.5, 2.5, 2.5});
  if (!dist::mpi_built()) CHECK_THAT(dist::unavailable_reason(), Contains("built without MPI"));
}

#if MINIDL_WITH_NCCL
#include "minidl/kernels/cuda/nccl.h"

TEST_CASE("NCCL communicator of one GPU: all_reduce (sum, average) and broadcast on the device, ordered after the "
          "compute stream",
          "[distributed][cuda]") {
  if (!cuda_available() &&
      test::skip(test::Need::Gpu, std::string("no GPU visible; the NCCL backend (") + kernels::cuda::nccl_version() +
                                      ") compiled but did not run"))
    return;
  kernels::cuda::NcclComm comm(1, 0, kernels::cuda::nccl_unique_id(), 0);
  Generator g(3);
  const Tensor host = Tensor::randn({1000}, g);
  // Values written on the compute stream just before: the collective must see them.
  Tensor t = Tensor::empty({1000}, DType::Float32, Device::cuda(0));
  t.copy_(host);
  comm.all_reduce(t.raw_data(), t.numel(), kernels::cuda::NcclComm::Type::Float32, false);
  comm.all_reduce(t.raw_data(), t.numel(), kernels::cuda::NcclComm::Type::Float32, true);
  Tensor d = Tensor::full({7}, 3.0, DType::Float64, Device::cuda(0));
  comm.broadcast(d.raw_data(), d.numel(), kernels::cuda::NcclComm::Type::Float64, 0);
  comm.join();
  CHECK(vec(t) == vec(host));  // the sum and the mean over one rank are the values themselves
  CHECK(vec(d) == std::vector<double>(7, 3.0));
  std::printf("NCCL %s: a communicator of one GPU ran all_reduce and broadcast\n", kernels::cuda::nccl_version());
}
#endif
