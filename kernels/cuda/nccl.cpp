// kernels/cuda/nccl.h on NCCL.
#include "minidl/config.h"

#if MINIDL_WITH_NCCL
#include "minidl/kernels/cuda/nccl.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <string>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/check.h"
#include "minidl/kernels/cuda/context.h"

static_assert(sizeof(ncclUniqueId) == sizeof(minidl::kernels::cuda::NcclUniqueId), "ncclUniqueId size changed");

namespace minidl::kernels::cuda {

namespace {

[[noreturn]] void throw_nccl_error(ncclResult_t status, const char* call, const char* file, int line) {
  // ncclGetLastError carries the detail (which peer, which transport) when NCCL has it.
  const char* last = ncclGetLastError(nullptr);
  throw Error(std::string("NCCL error ") + ncclGetErrorString(status) + " in " + call + " at " + file + ":" +
              std::to_string(line) + (last && *last ? std::string(": ") + last : std::string()) +
              " (NCCL_DEBUG=INFO says more)");
}

#define NCCL_CHECK(call)                                                     \
  do {                                                                       \
    const ncclResult_t minidl_status_ = (call);                              \
    if (minidl_status_ != ncclSuccess) throw_nccl_error(minidl_status_, #call, __FILE__, __LINE__); \
  } while (0)

ncclDataType_t nccl_type(NcclComm::Type t) {
  switch (t) {
    case NcclComm::Type::Float32: return ncclFloat32;
    case NcclComm::Type::Float64: return ncclFloat64;
    case NcclComm::Type::Int64: return ncclInt64;
  }
  return ncclFloat32;
}

}  // namespace

NcclUniqueId nccl_unique_id() {
  ncclUniqueId id;
  NCCL_CHECK(ncclGetUniqueId(&id));
  NcclUniqueId out;
  static_assert(sizeof id == sizeof out);
  std::memcpy(out.data(), &id, sizeof id);
  return out;
}

const char* nccl_version() {
  static std::string v = [] {
    int code = 0;
    if (ncclGetVersion(&code) != ncclSuccess) return std::string("unknown");
    return std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." + std::to_string(code % 100);
  }();
  return v.c_str();
}

struct NcclComm::Impl {
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t comm_stream = nullptr;
  // Reused for every collective: a stream wait takes the event's state when it is queued, so
  // recording it again afterwards does not disturb waits already queued.
  cudaEvent_t compute_ready = nullptr, comm_done = nullptr;
  bool pending = false;  // a collective was queued since the last join()
};

NcclComm::NcclComm(int world, int rank, const NcclUniqueId& id, int device) : impl_(std::make_unique<Impl>()) {
  detail::DeviceGuard guard(device);
  impl_->device = device;
  ncclUniqueId nid;
  std::memcpy(&nid, id.data(), sizeof nid);
  NCCL_CHECK(ncclCommInitRank(&impl_->comm, world, nid, rank));
  CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->comm_stream, cudaStreamNonBlocking));
  CUDA_CHECK(cudaEventCreateWithFlags(&impl_->compute_ready, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&impl_->comm_done, cudaEventDisableTiming));
}

NcclComm::~NcclComm() {
  if (!impl_) return;
  cudaSetDevice(impl_->device);
  // Errors are ignored here: a destructor runs at shutdown, when the peers may be gone already.
  if (impl_->comm) ncclCommDestroy(impl_->comm);
  if (impl_->compute_ready) cudaEventDestroy(impl_->compute_ready);
  if (impl_->comm_done) cudaEventDestroy(impl_->comm_done);
  if (impl_->comm_stream) cudaStreamDestroy(impl_->comm_stream);
}

int NcclComm::device() const { return impl_->device; }

void NcclComm::after_compute() {
  const cudaStream_t compute = detail::context(impl_->device).stream();
  CUDA_CHECK(cudaEventRecord(impl_->compute_ready, compute));
  CUDA_CHECK(cudaStreamWaitEvent(impl_->comm_stream, impl_->compute_ready, 0));
  impl_->pending = true;
}

void NcclComm::all_reduce(void* data, std::int64_t n, Type type, bool average) {
  detail::DeviceGuard guard(impl_->device);
  after_compute();
  NCCL_CHECK(ncclAllReduce(data, data, static_cast<std::size_t>(n), nccl_type(type), average ? ncclAvg : ncclSum,
                           impl_->comm, impl_->comm_stream));
}

void NcclComm::broadcast(void* data, std::int64_t n, Type type, int root) {
  detail::DeviceGuard guard(impl_->device);
  after_compute();
  NCCL_CHECK(ncclBroadcast(data, data, static_cast<std::size_t>(n), nccl_type(type), root, impl_->comm,
                           impl_->comm_stream));
}

void NcclComm::join() {
  if (!impl_->pending) return;
  detail::DeviceGuard guard(impl_->device);
  CUDA_CHECK(cudaEventRecord(impl_->comm_done, impl_->comm_stream));
  CUDA_CHECK(cudaStreamWaitEvent(detail::context(impl_->device).stream(), impl_->comm_done, 0));
  impl_->pending = false;
}

}  // namespace minidl::kernels::cuda

#endif  // MINIDL_WITH_NCCL
