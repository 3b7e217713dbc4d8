// The process group over MPI_COMM_WORLD. CPU tensors: MPI collectives, run one at a time by a
// communication thread in the order they were started (MPI_THREAD_SERIALIZED, as PyTorch's
// ProcessGroupMPI), so that an asynchronous all_reduce proceeds while the caller computes (DDP's
// gradient buckets during backward). GPU tensors: NCCL, bootstrapped over MPI as llm.c does it
// (rank 0 makes the ncclUniqueId, MPI_Bcast sends it), one communicator per device.
#include "minidl/config.h"

#if MINIDL_WITH_MPI
// The C API only: mpi.h would otherwise pull in the deprecated C++ bindings (and their library).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "minidl/core/distributed.h"
#include "minidl/core/distributed/backends.h"
#if MINIDL_WITH_NCCL
#include "minidl/kernels/cuda/nccl.h"
#include "minidl/kernels/runtime.h"
#endif

namespace minidl::dist::backend {

namespace {

using ::minidl::detail::str;

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, static_cast<std::size_t>(len));
}

#define MPI_CHECK(call, what)                                                                                 \
  do {                                                                                                        \
    const int minidl_mpi_status_ = (call);                                                                    \
    if (minidl_mpi_status_ != MPI_SUCCESS)                                                                    \
      throw DistributedError(str(what, ": ", #call, " failed: ", mpi_error_string(minidl_mpi_status_)));     \
  } while (0)

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Int64: return MPI_INT64_T;
    default: break;
  }
  throw DistributedError(str("collectives take float32, float64 or int64 tensors, got ", dtype_name(t)));
}

// A collective queued on the communication thread.
class CpuWork final : public Work {
 public:
  explicit CpuWork(std::function<void()> fn) : fn_(std::move(fn)) {}
  void run() {
    std::exception_ptr error;
    try {
      fn_();
    } catch (...) {
      error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    error_ = error;
    done_ = true;
    fn_ = nullptr;  // releases the tensors it held
    cv_.notify_all();
  }
  void wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::function<void()> fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
};

// One thread makes every MPI call after initialisation, one after another.
class CommThread {
 public:
  CommThread() : thread_([this] { loop(); }) {}
  ~CommThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  std::shared_ptr<CpuWork> enqueue(std::function<void()> fn) {
    auto work = std::make_shared<CpuWork>(std::move(fn));
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(work);
    }
    cv_.notify_one();
    return work;
  }
  void run(std::function<void()> fn) { enqueue(std::move(fn))->wait(); }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop, with nothing left to run
      auto work = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      work->run();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<CpuWork>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

bool g_mpi_started_here = false;

class MpiGroup final : public ProcessGroup {
 public:
  MpiGroup() {
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
      int provided = 0;
      MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "starting MPI");
      g_mpi_started_here = true;
      if (provided < MPI_THREAD_SERIALIZED)
        throw DistributedError(str("this MPI library gives thread level ", provided,
                                   " but minidl needs MPI_THREAD_SERIALIZED (", MPI_THREAD_SERIALIZED, ")"));
    }
    // Errors come back as codes (then exceptions naming the call), not as an abort inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI rank");
    MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI size");
    // The ranks that share this host (and its GPUs).
    MPI_Comm local;
    MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local), "local ranks");
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
    comm_ = std::make_unique<CommThread>();
  }

  ~MpiGroup() override {
#if MINIDL_WITH_NCCL
    nccl_.clear();
#endif
    comm_.reset();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  std::shared_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    MINIDL_CHECK(t.defined(), "all_reduce: undefined tensor");
    MINIDL_CHECK(op == ReduceOp::Sum || is_floating(t.dtype()), "all_reduce: Average needs a floating tensor, got ",
                 t.str());
    if (t.device().is_cuda()) return all_reduce_gpu(t, op);
    const MPI_Datatype type = mpi_type(t.dtype());
    const int world = size_;
    return comm_->enqueue([t, type, op, world] {
      // MPI counts are ints: large tensors go in pieces.
      char* p = static_cast<char*>(t.raw_data());
      const std::size_t elem = dtype_size(t.dtype());
      for (std::int64_t done = 0; done < t.numel();) {
        const int n = static_cast<int>(std::min<std::int64_t>(t.numel() - done, INT_MAX / 2));
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p + done * elem, n, type, MPI_SUM, MPI_COMM_WORLD),
                  str("all_reduce of ", t.str()));
        done += n;
      }
      if (op == ReduceOp::Average) divide(t, world);
    });
  }

  void broadcast(const Tensor& t, int root) override {
    MINIDL_CHECK(t.defined(), "broadcast: undefined tensor");
    MINIDL_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of a world of ", size_);
    if (t.device().is_cuda()) return broadcast_gpu(t, root);
    const MPI_Datatype type = t.dtype() == DType::Int64 ? MPI_INT64_T : MPI_BYTE;
    comm_->run([&] {
      char* p = static_cast<char*>(t.raw_data());
      const std::size_t elem = type == MPI_BYTE ? 1 : sizeof(std::int64_t);
      const std::int64_t total = static_cast<std::int64_t>(t.nbytes() / elem);
      for (std::int64_t done = 0; done < total;) {
        const int n = static_cast<int>(std::min<std::int64_t>(total - done, INT_MAX / 2));
        MPI_CHECK(MPI_Bcast(p + done * static_cast<std::int64_t>(elem), n, type, root, MPI_COMM_WORLD),
                  str("broadcast of ", t.str()));
        done += n;
      }
    });
  }

  void barrier() override {
    comm_->run([] { MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD), "barrier"); });
  }

  std::string backend(Device device) const override { return device.is_cuda() ? "nccl" : "mpi"; }

  [[noreturn]] void abort(int code) override {
    // Not through the communication thread: it may be blocked in a collective that a dead rank
    // will never join. Open MPI's mpirun then ends every process of the job.
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  static void divide(const Tensor& t, int world) {
    const std::int64_t n = t.numel();
    if (t.dtype() == DType::Float32) {
      float* p = t.data<float>();
      const float w = static_cast<float>(world);
      for (std::int64_t i = 0; i < n; ++i) p[i] /= w;
    } else {
      double* p = t.data<double>();
      const double w = static_cast<double>(world);
      for (std::int64_t i = 0; i < n; ++i) p[i] /= w;
    }
  }

#if MINIDL_WITH_NCCL
  struct GpuWork final : Work {
    kernels::cuda::NcclComm* comm;
    explicit GpuWork(kernels::cuda::NcclComm* c) : comm(c) {}
    void wait() override { comm->join(); }
  };

  static kernels::cuda::NcclComm::Type nccl_type(DType t) {
    switch (t) {
      case DType::Float32: return kernels::cuda::NcclComm::Type::Float32;
      case DType::Float64: return kernels::cuda::NcclComm::Type::Float64;
      case DType::Int64: return kernels::cuda::NcclComm::Type::Int64;
      default: break;
    }
    throw DistributedError(str("collectives take float32, float64 or int64 tensors, got ", dtype_name(t)));
  }

  // The device's communicator, made on first use: a collective call, which every rank reaches
  // at the same point of the program since collectives are called in the same order everywhere.
  kernels::cuda::NcclComm& nccl(int device) {
    auto it = nccl_.find(device);
    if (it != nccl_.end()) return *it->second;
    kernels::cuda::NcclUniqueId id{};
    if (rank_ == 0) id = kernels::cuda::nccl_unique_id();
    comm_->run([&] {
      MPI_CHECK(MPI_Bcast(id.data(), static_cast<int>(id.size()), MPI_BYTE, 0, MPI_COMM_WORLD), "sending the ncclUniqueId");
    });
    auto made = std::make_unique<kernels::cuda::NcclComm>(size_, rank_, id, device);
    return *nccl_.emplace(device, std::move(made)).first->second;
  }

  std::shared_ptr<Work> all_reduce_gpu(const Tensor& t, ReduceOp op) {
    auto& c = nccl(t.device().index);
    c.all_reduce(t.raw_data(), t.numel(), nccl_type(t.dtype()), op == ReduceOp::Average);
    return std::make_shared<GpuWork>(&c);
  }
  void broadcast_gpu(const Tensor& t, int root) {
    auto& c = nccl(t.device().index);
    c.broadcast(t.raw_data(), t.numel(), nccl_type(t.dtype()), root);
    c.join();
  }

  std::map<int, std::unique_ptr<kernels::cuda::NcclComm>> nccl_;
#else
  [[noreturn]] std::shared_ptr<Work> all_reduce_gpu(const Tensor& t, ReduceOp) { no_nccl(t); }
  [[noreturn]] void broadcast_gpu(const Tensor& t, int) { no_nccl(t); }
  [[noreturn]] static void no_nccl(const Tensor& t) {
    throw DistributedError(str("a collective on ", t.str(), ": ", unavailable_reason()));
  }
#endif

  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::unique_ptr<CommThread> comm_;
};

}  // namespace

std::unique_ptr<ProcessGroup> make_mpi_group() { return std::make_unique<MpiGroup>(); }

void finalize_mpi() {
  int started = 0, finished = 0;
  MPI_Initialized(&started);
  MPI_Finalized(&finished);
  if (started && !finished && g_mpi_started_here) MPI_Finalize();
}

}  // namespace minidl::dist::backend

#endif  // MINIDL_WITH_MPI
