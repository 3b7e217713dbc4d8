// NCCL collectives on minidl's GPU streams, for core/distributed's process group (GPU tensors).
// Defined in builds with MINIDL_WITH_NCCL; no CUDA or NCCL header here, so core includes it.
//
// A communicator runs its collectives on a stream of its own, in the order they were queued,
// each after the work queued so far on the device's compute stream (kernels::cuda::stream), so
// that gradient buckets are reduced while backward kernels keep running (DDP's overlap). join()
// makes the compute stream wait for everything queued on the communicator: the host never waits.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

namespace minidl::kernels::cuda {

// ncclUniqueId as bytes: rank 0 makes it, every rank receives it (over MPI) and passes it to
// NcclComm. (NCCL_UNIQUE_ID_BYTES is 128; nccl.cpp checks that.)
using NcclUniqueId = std::array<char, 128>;
NcclUniqueId nccl_unique_id();
// "2.27.3": the NCCL library loaded.
const char* nccl_version();

class NcclComm {
 public:
  enum class Type { Float32, Float64, Int64 };
  // ncclCommInitRank on `device`: a collective call, every rank of `world` makes its own at once.
  NcclComm(int world, int rank, const NcclUniqueId& id, int device);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int device() const;
  // In place, on device memory. average: the sum divided by the world size (ncclAvg).
  void all_reduce(void* data, std::int64_t n, Type type, bool average);
  void broadcast(void* data, std::int64_t n, Type type, int root);
  // The compute stream waits for every collective queued so far.
  void join();

 private:
  void after_compute();  // the communicator's stream waits for the compute stream's queued work
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minidl::kernels::cuda
