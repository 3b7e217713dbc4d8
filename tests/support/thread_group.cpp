#include "thread_group.h"

#include <exception>
#include <thread>

#include "minidl/base/error.h"

namespace minidl::test {

// One rank's view of the world: the ProcessGroup a rank's code is handed.
class ThreadWorld::Group final : public dist::ProcessGroup {
 public:
  Group(ThreadWorld& world, int rank) : world_(world), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return world_.size(); }
  int local_rank() const override { return rank_; }
  int local_size() const override { return world_.size(); }
  std::shared_ptr<dist::Work> all_reduce_async(const Tensor& t, dist::ReduceOp op) override {
    MINIDL_CHECK(t.defined(), "all_reduce: undefined tensor");
    MINIDL_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64 || t.dtype() == DType::Int64,
                 "all_reduce: expected a float32, float64 or int64 tensor, got ", t.str());
    MINIDL_CHECK(op == dist::ReduceOp::Sum || is_floating(t.dtype()), "all_reduce: Average needs a floating tensor, got ",
                 t.str());
    world_.collective(rank_, op == dist::ReduceOp::Sum ? Kind::AllReduceSum : Kind::AllReduceAverage, t, 0);
    return std::make_shared<Done>();
  }
  void broadcast(const Tensor& t, int root) override {
    MINIDL_CHECK(t.defined(), "broadcast: undefined tensor");
    MINIDL_CHECK(root >= 0 && root < size(), "broadcast: root ", root, " is not a rank of a world of ", size());
    world_.collective(rank_, Kind::Broadcast, t, root);
  }
  void barrier() override { world_.collective(rank_, Kind::Barrier, Tensor(), 0); }
  std::string backend(Device) const override { return "threads"; }
  [[noreturn]] void abort(int code) override {
    world_.fail(detail::str("rank ", rank_, " called abort(", code, ")"));
    throw dist::DistributedError(detail::str("rank ", rank_, " of a world of threads aborted with code ", code));
  }

 private:
  struct Done final : dist::Work {
    void wait() override {}
  };
  ThreadWorld& world_;
  int rank_;
};

ThreadWorld::ThreadWorld(int size) : size_(size), slots_(size), kinds_(size), roots_(size) {
  MINIDL_CHECK(size > 0, "ThreadWorld: expected at least one rank, got ", size);
  for (int r = 0; r < size; ++r) groups_.push_back(std::make_unique<Group>(*this, r));
}

ThreadWorld::~ThreadWorld() = default;

dist::ProcessGroup& ThreadWorld::group(int rank) {
  MINIDL_CHECK(rank >= 0 && rank < size_, "ThreadWorld: rank ", rank, " is not in [0, ", size_, ")");
  return *groups_[static_cast<std::size_t>(rank)];
}

void ThreadWorld::run(const std::function<void(int)>& f) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed_.clear();
    first_error_ = -1;
    arrived_ = 0;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(size_));
  std::vector<std::thread> threads;
  for (int r = 0; r < size_; ++r)
    threads.emplace_back([&, r] {
      try {
        f(r);
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
        std::lock_guard<std::mutex> lock(mu_);
        // The first failure is the cause; later ones are mostly the collectives it left waiting.
        if (first_error_ < 0) first_error_ = r;
        if (failed_.empty()) failed_ = detail::str("rank ", r, " failed");
        cv_.notify_all();
      }
    });
  for (auto& t : threads) t.join();
  if (first_error_ >= 0) std::rethrow_exception(errors[static_cast<std::size_t>(first_error_)]);
}

void ThreadWorld::fail(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_.empty()) failed_ = why;
  cv_.notify_all();
}

void ThreadWorld::collective(int rank, Kind kind, const Tensor& t, int root) {
  std::unique_lock<std::mutex> lock(mu_);
  auto check_failed = [&] {
    if (!failed_.empty())
      throw dist::DistributedError(detail::str("rank ", rank, ": the world of threads failed (", failed_, ")"));
  };
  check_failed();
  const std::size_t r = static_cast<std::size_t>(rank);
  slots_[r] = t;
  kinds_[r] = kind;
  roots_[r] = root;
  const long generation = generation_;
  if (++arrived_ < size_) {
    cv_.wait(lock, [&] { return generation_ != generation || !failed_.empty(); });
    if (generation_ == generation) check_failed();
    return;
  }
  // The last rank in: every other rank waits, so their tensors are still; then let them go. If
  // finish throws, run() marks the world failed, which releases them.
  finish(kind, root);
  arrived_ = 0;
  ++generation_;
  for (auto& s : slots_) s = Tensor();
  cv_.notify_all();
}

void ThreadWorld::finish(Kind kind, int root) {
  for (int r = 0; r < size_; ++r) {
    const std::size_t i = static_cast<std::size_t>(r);
    MINIDL_CHECK(kinds_[i] == kind && roots_[i] == root, "ThreadWorld: the ranks called different collectives");
    if (kind == Kind::Barrier) continue;
    MINIDL_CHECK(slots_[i].shape() == slots_[0].shape() && slots_[i].dtype() == slots_[0].dtype(),
                 "ThreadWorld: rank ", r, " passed ", slots_[i].str(), ", rank 0 ", slots_[0].str());
  }
  if (kind == Kind::Barrier) return;
  if (kind == Kind::Broadcast) {
    const Tensor value = slots_[static_cast<std::size_t>(root)].to(Device::cpu());
    for (int r = 0; r < size_; ++r)
      if (r != root) slots_[static_cast<std::size_t>(r)].copy_(value);
    return;
  }
  // Sum in float64 in rank order (int64 values of the tests are far below 2^53).
  auto host = [&](int r) {
    return slots_[static_cast<std::size_t>(r)].to(Device::cpu()).to(DType::Float64).to_vector<double>();
  };
  std::vector<double> sum = host(0);
  for (int r = 1; r < size_; ++r) {
    const std::vector<double> v = host(r);
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += v[i];
  }
  if (kind == Kind::AllReduceAverage)
    for (double& s : sum) s /= size_;
  const Tensor result = Tensor::from_vector(sum, slots_[0].shape()).to(slots_[0].dtype());
  for (auto& s : slots_) s.copy_(result);  // to each rank's device
}

}  // namespace minidl::test
