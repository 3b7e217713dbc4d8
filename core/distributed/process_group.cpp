// dist::world() and the world of one process; the MPI group is in mpi_group.cpp.
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "minidl/config.h"
#include "minidl/core/distributed.h"
#include "minidl/core/distributed/backends.h"

namespace minidl::dist {

bool mpi_built() { return MINIDL_WITH_MPI != 0; }
bool nccl_built() { return MINIDL_WITH_NCCL != 0; }

std::string unavailable_reason() {
  if (!mpi_built())
    return "distributed training is not available: this minidl was built without MPI (MINIDL_MPI=OFF, or no MPI was "
           "found when it was configured; scripts/install-deps.sh installs openmpi-bin and libopenmpi-dev, then "
           "reconfigure and rebuild)";
  if (!nccl_built())
    return "distributed training on GPUs is not available: this minidl was built without NCCL (it needs the CUDA "
           "backend and NCCL; MINIDL_NCCL=OFF, or NCCL was not found when it was configured)";
  return "";
}

int launcher_world_size() {
  // Open MPI, then MPICH / Intel MPI (PMI), then PMIx launchers (srun --mpi=pmix).
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    const char* v = std::getenv(var);
    if (v && *v) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  // Some PMIx launchers set only the rank.
  if (std::getenv("PMIX_RANK")) return 1;
  return 0;
}

std::string ProcessGroup::describe() const {
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  return detail::str("rank ", rank(), " of ", size(), " on ", host, " (pid ", getpid(), ")");
}

namespace {

class SingleProcessGroup final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::shared_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    MINIDL_CHECK(t.defined(), "all_reduce: undefined tensor");
    MINIDL_CHECK(op == ReduceOp::Sum || is_floating(t.dtype()), "all_reduce: Average needs a floating tensor, got ", t.str());
    return std::make_shared<Done>();  // the sum or mean of one value is that value
  }
  void broadcast(const Tensor& t, int root) override {
    MINIDL_CHECK(t.defined(), "broadcast: undefined tensor");
    MINIDL_CHECK(root == 0, "broadcast: root ", root, " is not a rank of a world of 1");
  }
  void barrier() override {}
  std::string backend(Device) const override { return "none"; }
  [[noreturn]] void abort(int code) override { std::exit(code); }

 private:
  struct Done final : Work {
    void wait() override {}
  };
};

std::mutex g_mu;
std::unique_ptr<ProcessGroup> g_world;
bool g_finalized = false;

}  // namespace

namespace backend {
std::unique_ptr<ProcessGroup> make_single_process_group() { return std::make_unique<SingleProcessGroup>(); }
}  // namespace backend

std::unique_ptr<ProcessGroup> single_process_group() { return backend::make_single_process_group(); }

ProcessGroup& world() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_world) return *g_world;
  if (g_finalized) throw DistributedError("dist::world(): called after dist::finalize()");
  const int launched = launcher_world_size();
  if (launched == 0) {
    g_world = backend::make_single_process_group();
  } else {
#if MINIDL_WITH_MPI
    g_world = backend::make_mpi_group();
#else
    if (launched > 1)
      throw DistributedError(::minidl::detail::str("mpirun started ", launched, " processes, but ",
                                                   unavailable_reason()));
    g_world = backend::make_single_process_group();
#endif
  }
  return *g_world;
}

bool initialized() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_world && g_world->size() > 1;
}

void finalize() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_world) return;
  g_world.reset();
  g_finalized = true;
#if MINIDL_WITH_MPI
  backend::finalize_mpi();
#endif
}

}  // namespace minidl::dist
