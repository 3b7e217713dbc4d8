// minidl_mpi_worker: what each rank runs in the MPI tests (tests/distributed/test_distributed.cpp
// launches it with mpirun -np 2 and checks what it prints and writes).
//   minidl_mpi_worker collectives        all_reduce / broadcast / barrier on CPU tensors, and the
//                                        sampler's shards; exits non-zero on a wrong value
//   minidl_mpi_worker ddp OUT [sync-bn]  DdpCase on this rank's share of the batch, through
//                                        DistributedDataParallel; writes OUT/rank<r>.safetensors
//   minidl_mpi_worker nccl               the collectives and one DDP step on GPU tensors (world
//                                        size 1 is enough: it exercises NCCL's calls)
// Every rank prints its failures as "rank R: ..." to stderr.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>

#include "ddp_case.h"
#include "minidl/core/distributed.h"
#include "minidl/core/safetensors.h"
#include "minidl/data/sampler.h"

using namespace minidl;

namespace {

int g_failures = 0;

void expect(bool ok, const std::string& what) {
  if (ok) return;
  ++g_failures;
  std::fprintf(stderr, "rank %d: FAILED: %s\n", dist::world().rank(), what.c_str());
}

// Rank r holds base + r * step in every element; the sum over ranks is known exactly.
template <typename T>
void check_all_reduce(dist::ProcessGroup& g, DType dtype, dist::ReduceOp op, Device device) {
  const int n = 1000, w = g.size(), r = g.rank();
  std::vector<T> v(n);
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<T>(i + 1000 * r);
  Tensor t = Tensor::from_vector(v).to(device);
  g.all_reduce(t, op);
  const std::vector<T> got = t.to(Device::cpu()).template to_vector<T>();
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    // sum over r of (i + 1000 r) = w i + 1000 w (w - 1) / 2
    double want = static_cast<double>(w) * i + 1000.0 * w * (w - 1) / 2;
    if (op == dist::ReduceOp::Average) want /= w;
    ok = ok && static_cast<double>(got[static_cast<std::size_t>(i)]) == want;
  }
  expect(ok, std::string("all_reduce ") + (op == dist::ReduceOp::Sum ? "sum" : "average") + " of " + dtype_name(dtype) +
                 " on " + device.str());
}

void check_collectives(dist::ProcessGroup& g, Device device) {
  check_all_reduce<float>(g, DType::Float32, dist::ReduceOp::Sum, device);
  check_all_reduce<float>(g, DType::Float32, dist::ReduceOp::Average, device);
  check_all_reduce<double>(g, DType::Float64, dist::ReduceOp::Sum, device);
  check_all_reduce<double>(g, DType::Float64, dist::ReduceOp::Average, device);
  check_all_reduce<std::int64_t>(g, DType::Int64, dist::ReduceOp::Sum, device);

  // Broadcast from the last rank.
  const int root = g.size() - 1;
  Tensor b = Tensor::full({17}, g.rank() == root ? 42.5 : -1.0).to(device);
  g.broadcast(b, root);
  const auto bv = b.to(Device::cpu()).to_vector<float>();
  expect(std::all_of(bv.begin(), bv.end(), [](float x) { return x == 42.5f; }), "broadcast from rank " + std::to_string(root) + " on " + device.str());

  // Asynchronous all_reduces complete in the order they were started, each with its own data.
  Tensor a1 = Tensor::full({5}, 1.0).to(device), a2 = Tensor::full({3}, 2.0).to(device);
  auto w1 = g.all_reduce_async(a1), w2 = g.all_reduce_async(a2, dist::ReduceOp::Average);
  w2->wait();
  w1->wait();
  expect(a1.to(Device::cpu()).to_vector<float>()[0] == static_cast<float>(g.size()) &&
             a2.to(Device::cpu()).to_vector<float>()[2] == 2.0f,
         "two asynchronous all_reduces on " + device.str());
  g.barrier();
}

// Every rank takes its shard of the same epoch; summed over ranks, each sample is taken once
// (uneven shards) or at most once with equal shard sizes (equal shards).
void check_sampler(dist::ProcessGroup& g) {
  for (std::int64_t n : {10, 11, 13, 64}) {
    for (bool equal : {true, false}) {
      for (std::int64_t epoch : {0, 3}) {
        data::DistributedSampler s(std::make_unique<data::RandomSampler>(n, 7), g.size(), g.rank(), equal);
        const auto mine = s.epoch_order(epoch);
        expect(static_cast<std::int64_t>(mine.size()) == s.epoch_size(), "sampler epoch_size");
        std::vector<std::int64_t> count(static_cast<std::size_t>(n), 0);
        for (std::int64_t i : mine) ++count[static_cast<std::size_t>(i)];
        Tensor c = Tensor::from_vector(count);
        g.all_reduce(c);
        Tensor sizes = Tensor::from_vector(std::vector<std::int64_t>{static_cast<std::int64_t>(mine.size())});
        g.all_reduce(sizes);
        const auto cv = c.to_vector<std::int64_t>();
        const std::int64_t total = std::accumulate(cv.begin(), cv.end(), std::int64_t{0});
        const bool disjoint = std::all_of(cv.begin(), cv.end(), [](std::int64_t k) { return k <= 1; });
        const std::string what = "sampler n=" + std::to_string(n) + (equal ? " equal" : " uneven") + " epoch " +
                                 std::to_string(epoch);
        expect(disjoint, what + ": shards overlap");
        if (equal) {
          expect(total == n / g.size() * g.size(), what + ": equal shards leave out more than size-1 samples");
          expect(sizes.to_vector<std::int64_t>()[0] == static_cast<std::int64_t>(mine.size()) * g.size(),
                 what + ": shard sizes differ");
        } else {
          expect(total == n, what + ": shards do not cover the data");
        }
      }
    }
  }
}

int collectives() {
  dist::ProcessGroup& g = dist::world();
  check_collectives(g, Device::cpu());
  check_sampler(g);
  if (g.rank() == 0 && g_failures == 0) std::printf("collectives ok on %d ranks (backend %s)\n", g.size(), g.backend(Device::cpu()).c_str());
  return g_failures ? 1 : 0;
}

int ddp(const std::string& out, bool sync_bn) {
  dist::ProcessGroup& g = dist::world();
  const std::int64_t share = test::DdpCase::kBatch / g.size();
  auto [x, y] = test::DdpCase::batch(g.rank() * share, share);
  auto model = test::DdpCase::model();
  if (sync_bn) convert_sync_batch_norm(*model, &g);
  // Small buckets, so that several are reduced while backward still runs.
  DdpOptions opt;
  opt.bucket_cap_bytes = 64 << 10;
  opt.first_bucket_cap_bytes = 16 << 10;
  DistributedDataParallel ddp(*model, g, opt);
  auto result = test::DdpCase::run(*model, x, y, &ddp);
  save_safetensors(out + "/rank" + std::to_string(g.rank()) + ".safetensors", result,
                   {{"buckets", std::to_string(ddp.num_buckets())},
                    {"overlapped_buckets", std::to_string(ddp.overlapped_buckets())}});
  g.barrier();
  if (g.rank() == 0) std::printf("ddp ok: %zu buckets, %zu started during backward\n", ddp.num_buckets(), ddp.overlapped_buckets());
  return 0;
}

int nccl() {
  dist::ProcessGroup& g = dist::world();
  if (!cuda_available()) {
    std::printf("no GPU visible: the NCCL collectives did not run\n");
    return 0;
  }
  const Device gpu = Device::cuda(g.local_rank());
  check_collectives(g, gpu);
  // One DDP step on the GPU against the same step on the CPU.
  auto [x, y] = test::DdpCase::batch(0, test::DdpCase::kBatch);
  auto cpu_model = test::DdpCase::model();
  auto gpu_model = test::DdpCase::model();
  gpu_model->to(gpu);
  DistributedDataParallel ddp(*gpu_model, g);
  auto want = test::DdpCase::run(*cpu_model, x, y, nullptr);
  auto got = test::DdpCase::run(*gpu_model, x.to(gpu), y.to(gpu), &ddp);
  double worst = 0;
  for (const auto& [name, t] : want) {
    if (!is_floating(t.dtype())) continue;
    const auto a = t.to(DType::Float64).to_vector<double>();
    const auto b = got.at(name).to(Device::cpu()).to(DType::Float64).to_vector<double>();
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / (1e-3 + std::abs(a[i])));
  }
  expect(worst < 1e-2, "DDP on " + gpu.str() + " against the CPU: worst relative error " + std::to_string(worst));
  if (g.rank() == 0 && g_failures == 0)
    std::printf("nccl ok on %d ranks (backend %s), DDP worst relative error %.3g\n", g.size(), g.backend(gpu).c_str(), worst);
  return g_failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  int code = 2;
  try {
    if (what == "collectives") code = collectives();
    else if (what == "ddp" && argc >= 3) code = ddp(argv[2], argc >= 4 && std::string(argv[3]) == "sync-bn");
    else if (what == "nccl") code = nccl();
    else std::fprintf(stderr, "usage: minidl_mpi_worker collectives | ddp OUT [sync-bn] | nccl\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error on %s: %s\n", dist::world().describe().c_str(), e.what());
    dist::world().abort(1);
  }
  dist::finalize();
  return code;
}
