#include "common/data_parallel.h"

#include <cstdio>

#include "common/app_flags.h"
#include "minidl/data/split.h"

namespace minidl::app {

ParallelContext parallel_context(const TrainConfig& cfg) {
  ParallelContext p;
  if (dist::launcher_world_size() == 0) {
    // One process: --sync-bn is plain batch norm (as PyTorch's SyncBatchNorm outside a job),
    // but a build that could never run it distributed says so rather than ignore the flag.
    MINIDL_CHECK(!cfg.sync_bn || dist::mpi_built(), "--sync-bn: ", dist::unavailable_reason());
    return p;
  }
  dist::ProcessGroup& g = dist::world();  // throws when mpirun started several and there is no MPI
  if (g.size() == 1 && !dist::mpi_built()) return p;
  p.group = &g;
  p.rank = g.rank();
  p.world_size = g.size();
  p.local_rank = g.local_rank();
  p.local_size = g.local_size();
  return p;
}

Device rank_device(const TrainConfig& cfg, const ParallelContext& parallel) {
  if (!parallel.distributed()) return resolve_device(cfg.device, cfg.quiet || !parallel.is_main());
  Device d;
  if ((cfg.device == "auto" && cuda_available()) || cfg.device == "cuda") {
    const int gpus = cuda_device_count();
    MINIDL_CHECK(gpus > 0, "--device ", cfg.device, ": no GPU is visible to ", parallel.group->describe());
    MINIDL_CHECK(parallel.local_size <= gpus, "--device ", cfg.device, ": ", parallel.local_size,
                 " ranks on this host but ", gpus, " GPUs; each rank needs a GPU of its own (NCCL cannot put two ranks "
                 "on one GPU): start at most ", gpus, " ranks per host, or train on the CPU with --device cpu");
    d = Device::cuda(parallel.local_rank);
  } else {
    d = resolve_device(cfg.device, cfg.quiet || !parallel.is_main());
  }
  if (d.is_cuda() && parallel.world_size > 1)
    MINIDL_CHECK(dist::nccl_built(), "--device ", cfg.device, " with ", parallel.world_size, " ranks: ",
                 dist::unavailable_reason());
  return d;
}

data::DatasetPtr shard(const data::DatasetPtr& dataset, const ParallelContext& parallel) {
  if (parallel.world_size == 1) return dataset;
  std::vector<std::int64_t> idx;
  for (std::int64_t i = parallel.rank; i < dataset->size(); i += parallel.world_size) idx.push_back(i);
  return std::make_shared<data::Subset>(dataset, idx,
                                        detail::str("shard ", parallel.rank, " of ", parallel.world_size));
}

void all_reduce_evaluation(EvalResult& r, const ParallelContext& parallel) {
  if (!parallel.distributed()) return;
  const std::int64_t k = r.confusion.num_classes();
  // [loss sum, counts]: the counts are exact in float64 far beyond any validation set.
  std::vector<double> v(static_cast<std::size_t>(1 + k * k));
  v[0] = r.loss * static_cast<double>(r.confusion.total());
  for (std::int64_t t = 0; t < k; ++t)
    for (std::int64_t p = 0; p < k; ++p) v[static_cast<std::size_t>(1 + t * k + p)] = static_cast<double>(r.confusion.count(t, p));
  Tensor sums = Tensor::from_vector(v);
  parallel.group->all_reduce(sums);
  const std::vector<double> s = sums.to_vector<double>();
  ConfusionMatrix all(r.confusion.class_names());
  for (std::int64_t t = 0; t < k; ++t)
    for (std::int64_t p = 0; p < k; ++p)
      for (auto n = static_cast<std::int64_t>(s[static_cast<std::size_t>(1 + t * k + p)]); n > 0; --n) all.add(t, p);
  r.confusion = all;
  r.loss = all.total() ? s[0] / static_cast<double>(all.total()) : 0.0;
}

int fail_rank(const std::string& message, int code) {
  if (dist::initialized()) {
    dist::ProcessGroup& g = dist::world();
    std::fprintf(stderr, "error on %s: %s\n", g.describe().c_str(), message.c_str());
    std::fprintf(stderr, "stopping every rank of the job (MPI_Abort); the checkpoints in the run folder are those of "
                         "the last finished epoch (continue with --resume)\n");
    std::fflush(stderr);
    g.abort(code);
  }
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return code;
}

}  // namespace minidl::app
