// What a training run does differently when mpirun starts it on several processes (docs/
// distributed.md): which process group and device a rank uses, its share of the validation set,
// the validation figures summed over ranks, and how a failing rank stops the job.
#pragma once

#include <exception>
#include <string>

#include "common/evaluation.h"
#include "common/train_config.h"
#include "minidl/core/distributed.h"
#include "minidl/data/dataset.h"

namespace minidl::app {

// Which process of a data-parallel job this is; one process, no group, by default.
struct ParallelContext {
  int rank = 0, world_size = 1, local_rank = 0, local_size = 1;
  dist::ProcessGroup* group = nullptr;  // set when a launcher (mpirun) started this process
  // The rank that writes files and prints.
  bool is_main() const { return rank == 0; }
  bool distributed() const { return group != nullptr; }
};

// The job this process belongs to: dist::world() when mpirun (or another MPI launcher) started
// it, else one process. Throws, saying why, when the launch or the flags ask for distributed
// training that this build cannot do (no MPI; --sync-bn without MPI).
ParallelContext parallel_context(const TrainConfig& config);

// The device of this rank: with --device auto or cuda (no index) and GPUs present, GPU
// local_rank (one GPU per rank); otherwise what resolve_device gives. Throws when ranks of one
// host would share a GPU or a GPU run has no NCCL.
Device rank_device(const TrainConfig& config, const ParallelContext& parallel);

// Samples rank, rank + world, ... of `dataset` (each sample in exactly one shard).
data::DatasetPtr shard(const data::DatasetPtr& dataset, const ParallelContext& parallel);

// Sums a shard's validation (loss and confusion matrix) over the ranks: every rank then holds the
// figures of the whole validation set. Predictions stay this rank's own.
void all_reduce_evaluation(EvalResult& result, const ParallelContext& parallel);

// For main(): prints the error naming this rank and, in a job of several processes, ends every
// process of the job (MPI_Abort) with `code`; otherwise returns `code`.
int fail_rank(const std::string& message, int code);

}  // namespace minidl::app
