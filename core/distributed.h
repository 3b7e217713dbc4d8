// The process group of data-parallel training, as torch.distributed: the processes of one job
// (ranks 0..size-1, started by mpirun) and the collectives they call together on tensors:
// all_reduce (sum or average), broadcast and barrier. A collective on a CPU tensor goes through
// MPI, on a GPU tensor through NCCL (bootstrapped over MPI: rank 0 makes the ncclUniqueId and
// MPI_Bcast sends it, as llm.c does), so the tensor's device picks the backend.
//
//   dist::ProcessGroup& pg = dist::world();   // MPI_Init when mpirun started this process
//   pg.all_reduce(grad, dist::ReduceOp::Average);
//
// Every rank must call the same collectives in the same order with tensors of the same shape and
// dtype (MPI's and NCCL's rule). A process that mpirun did not start is a world of one: its
// collectives leave tensors as they are and need no MPI at all, so a single-process run is the
// same in builds with and without MPI.
//
// Builds without MPI (MINIDL_MPI=OFF, or no libopenmpi-dev) have only that world of one;
// world() throws, saying distributed training is not available, when mpirun starts several.
#pragma once

#include <memory>
#include <string>

#include "minidl/core/tensor.h"

namespace minidl::dist {

enum class ReduceOp { Sum, Average };

// A collective or the process group failed (MPI or NCCL said so), or cannot run at all.
class DistributedError : public Error {
 public:
  using Error::Error;
};

// Whether this build can run on several processes (built with MPI), and with GPU tensors
// (built with NCCL); the reason when not, for error messages.
bool mpi_built();
bool nccl_built();
std::string unavailable_reason();

// The number of processes the launcher (mpirun, mpiexec, srun with PMI) started this job with,
// read from its environment; 0 when no launcher started this process.
int launcher_world_size();

// The completion of a collective started with all_reduce_async.
class Work {
 public:
  virtual ~Work() = default;
  // CPU: blocks until the collective is done. GPU: makes the device's compute stream wait for it
  // (the host does not wait). Rethrows the collective's error. Idempotent.
  virtual void wait() = 0;
};

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // This process's index among the ranks on its host, and how many there are: the GPU to use.
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  bool is_main() const { return rank() == 0; }

  // In place over every rank's t: the element-wise sum, or the sum divided by size(). t is a
  // contiguous float32, float64 or int64 tensor (Average: floating only); same shape everywhere.
  // The async form returns at once; the collectives of one group run in the order they were
  // started, and t must not be touched until wait() returns.
  virtual std::shared_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op = ReduceOp::Sum) = 0;
  void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum) { all_reduce_async(t, op)->wait(); }
  // In place: every rank's t becomes root's t.
  virtual void broadcast(const Tensor& t, int root = 0) = 0;
  // Returns when every rank has called it (and, on a GPU, once the queued work is done).
  virtual void barrier() = 0;

  // "mpi", "nccl" or "none" (a world of one): the backend a tensor on `device` goes through.
  virtual std::string backend(Device device) const = 0;
  // "rank 1 of 2 on host-a (pid 4242)": how errors name this process.
  std::string describe() const;
  // Ends every process of the job now with exit status `code` (MPI_Abort): the way one rank's
  // failure stops the others. In a world of one, std::exit(code).
  [[noreturn]] virtual void abort(int code) = 0;
};

// The group of every process of the job, created on first use (MPI_Init_thread if a launcher
// started this process). Throws DistributedError if a launcher started several processes and
// this build has no MPI, or if MPI cannot start.
ProcessGroup& world();
// A group of this process alone: collectives leave tensors as they are. What world() is outside
// a launched job; for tests and tools that want a group without touching world().
std::unique_ptr<ProcessGroup> single_process_group();
// Whether world() has been created, and its size is above one.
bool initialized();
// Shuts MPI (and NCCL) down cleanly: call once at the end of main() of a program that used
// world(). Collectives after it throw. Does nothing if world() was never called.
void finalize();

}  // namespace minidl::dist
