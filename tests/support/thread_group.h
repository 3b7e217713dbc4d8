// A process group whose ranks are threads of this one process (tests only): how a test runs
// collective code such as sync_batch_norm on several ranks without mpirun, in builds without MPI
// or NCCL, on the CPU or on CUDA tensors (the emulated build has no NCCL).
//
//   test::ThreadWorld world(2);
//   world.run([&](int rank) { y[rank] = sync_batch_norm(x[rank], ..., world.group(rank)); });
//
// Each collective is a rendezvous: the last rank to arrive checks that every rank passed the
// same shape and dtype, sums the ranks' tensors on the host in float64, in rank order (so the
// result is the same on every rank and in every run, as NCCL's and MPI's are), and copies the
// result into each rank's tensor, on its device. The sum is the test's, not the device's: what
// runs through the device kernels is everything before and after it. Collectives complete when
// called, so all_reduce_async's Work is already done. If a rank throws, run() marks the world
// failed: ranks waiting in a collective throw DistributedError instead of waiting forever, and
// run() rethrows the first rank's exception on the calling thread (Catch2's checks belong there).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "minidl/core/distributed.h"

namespace minidl::test {

class ThreadWorld {
 public:
  explicit ThreadWorld(int size);
  ~ThreadWorld();
  ThreadWorld(const ThreadWorld&) = delete;
  ThreadWorld& operator=(const ThreadWorld&) = delete;

  int size() const { return size_; }
  dist::ProcessGroup& group(int rank);
  // f(rank) on size() threads at once; returns when all have ended, rethrowing the first error.
  void run(const std::function<void(int rank)>& f);

 private:
  class Group;
  enum class Kind { AllReduceSum, AllReduceAverage, Broadcast, Barrier };
  // Called by every rank; returns when the collective is done on all of them.
  void collective(int rank, Kind kind, const Tensor& t, int root);
  void finish(Kind kind, int root);  // the last rank to arrive, with the lock held
  void fail(const std::string& why);  // releases every waiting rank with an error

  int size_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  long generation_ = 0;
  std::vector<Tensor> slots_;
  std::vector<Kind> kinds_;
  std::vector<int> roots_;
  std::string failed_;    // why the world failed; empty while it works
  int first_error_ = -1;  // the rank whose exception run() rethrows
};

}  // namespace minidl::test
