#include "minidl/layers/distributed_data_parallel.h"

#include <chrono>

#include "minidl/core/autograd.h"

namespace minidl {

DistributedDataParallel::DistributedDataParallel(Module& module, dist::ProcessGroup& group, DdpOptions options)
    : module_(module), group_(group), options_(options) {
  // Every rank starts from rank 0's model, whatever its own initialisation drew.
  for (const auto& [name, t] : module_.state_dict()) group_.broadcast(t, 0);

  const NamedTensors params = module_.named_parameters();
  // Buckets in reverse registration order: the last layers' gradients are ready first.
  std::size_t bucket_bytes = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const Tensor& p = it->second;
    if (!p.requires_grad()) continue;
    const std::size_t cap = buckets_.size() <= 1 ? options_.first_bucket_cap_bytes : options_.bucket_cap_bytes;
    bool fits = !buckets_.empty() && bucket_bytes + p.nbytes() <= cap;
    if (fits) {
      const Tensor& first = slots_[buckets_.back().slots.front()].param;
      fits = first.dtype() == p.dtype() && first.device() == p.device();
    }
    if (!fits) {
      buckets_.emplace_back();
      bucket_bytes = 0;
    }
    Slot s;
    s.name = it->first;
    s.param = p;
    s.bucket = buckets_.size() - 1;
    s.offset = static_cast<std::int64_t>(bucket_bytes / dtype_size(p.dtype()));
    buckets_.back().slots.push_back(slots_.size());
    slots_.push_back(std::move(s));
    bucket_bytes += p.nbytes();
  }
  for (Bucket& b : buckets_) {
    const Tensor& first = slots_[b.slots.front()].param;
    std::int64_t n = 0;
    for (std::size_t i : b.slots) n += slots_[i].param.numel();
    b.flat = Tensor::empty({n}, first.dtype(), first.device());
  }
  for (std::size_t i = 0; i < slots_.size(); ++i)
    slots_[i].hook = slots_[i].param.register_post_accumulate_grad_hook([this, i](const Tensor&) { on_grad_ready(i); });
  reset_step();

  // One flat buffer for the floating buffers, if they share a dtype and device (they do in a
  // model on one device), so that broadcast_buffers is one collective per step.
  std::int64_t n = 0;
  for (const auto& [name, t] : module_.named_buffers())
    if (is_floating(t.dtype())) {
      float_buffers_.emplace_back(name, t);
      n += t.numel();
    }
  bool uniform = true;
  for (const auto& [name, t] : float_buffers_)
    uniform = uniform && t.dtype() == float_buffers_[0].second.dtype() && t.device() == float_buffers_[0].second.device();
  if (n > 0 && uniform) flat_buffers_ = Tensor::empty({n}, float_buffers_[0].second.dtype(), float_buffers_[0].second.device());
}

DistributedDataParallel::~DistributedDataParallel() {
  for (const Slot& s : slots_)
    if (s.hook >= 0) s.param.remove_post_accumulate_grad_hook(s.hook);
}

std::vector<std::string> DistributedDataParallel::bucket_parameter_names(std::size_t b) const {
  std::vector<std::string> names;
  for (std::size_t i : buckets_.at(b).slots) names.push_back(slots_[i].name);
  return names;
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  // As PyTorch's "Expected to have finished reduction in the prior iteration": a backward that
  // left buckets unreduced would otherwise mix two steps' gradients.
  if (step_started() && !reduced_) synchronize();  // throws, naming the parameters
  reset_step();
  if (module_.is_training() && options_.broadcast_buffers) sync_buffers();
  return module_.forward(x);
}

void DistributedDataParallel::sync_buffers() {
  if (group_.size() == 1 || float_buffers_.empty()) return;
  if (!flat_buffers_.defined()) {
    for (const auto& [name, t] : float_buffers_) group_.broadcast(t, 0);
    return;
  }
  std::int64_t off = 0;
  for (const auto& [name, t] : float_buffers_) {
    flat_buffers_.narrow0(off, t.numel()).copy_(t);
    off += t.numel();
  }
  group_.broadcast(flat_buffers_, 0);
  off = 0;
  for (const auto& [name, t] : float_buffers_) {
    t.copy_(flat_buffers_.narrow0(off, t.numel()));
    off += t.numel();
  }
}

void DistributedDataParallel::reset_step() {
  for (Bucket& b : buckets_) {
    b.pending = b.slots.size();
    b.work.reset();
  }
  for (Slot& s : slots_) s.ready = false;
  not_ready_ = slots_.size();
  next_bucket_ = 0;
  reduced_ = false;
}

bool DistributedDataParallel::step_started() const {
  for (const Slot& s : slots_)
    if (s.ready) return true;
  return false;
}

void DistributedDataParallel::on_grad_ready(std::size_t i) {
  Slot& s = slots_[i];
  Bucket& b = buckets_[s.bucket];
  MINIDL_CHECK(!s.ready, "DistributedDataParallel: the gradient of '", s.name,
               "' became ready twice in one step (a second backward before the optimiser step and the next "
               "forward); accumulating gradients over several backward passes is not supported");
  s.ready = true;
  if (not_ready_ == slots_.size()) overlapped_ = 0;  // the first gradient of a step
  --not_ready_;
  const Tensor g = s.param.grad();
  b.flat.narrow0(s.offset, s.param.numel()).copy_(g);
  if (--b.pending == 0) launch_ready_buckets();
}

void DistributedDataParallel::launch_ready_buckets() {
  // In index order only: every rank then starts the same collectives in the same order.
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) {
    Bucket& b = buckets_[next_bucket_++];
    b.work = group_.all_reduce_async(b.flat, dist::ReduceOp::Average);
    if (not_ready_ > 0) ++overlapped_;
  }
  if (next_bucket_ == buckets_.size()) finish_reduction();
}

void DistributedDataParallel::finish_reduction() {
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_) b.work->wait();
  exposed_wait_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const Slot& s : slots_) s.param.grad().copy_(buckets_[s.bucket].flat.narrow0(s.offset, s.param.numel()));
  reduced_ = true;
}

void DistributedDataParallel::synchronize() {
  if (reduced_) return;
  std::string missing;
  std::size_t count = 0;
  for (const Slot& s : slots_)
    if (!s.ready && count++ < 8) missing += (count > 1 ? ", " : "") + s.name;
  if (count > 8) missing += detail::str(" and ", count - 8, " more");
  MINIDL_FAIL("DistributedDataParallel: the gradients were not reduced in this step: ",
              count == slots_.size() ? std::string("no backward pass since the last forward")
                                     : "no gradient for " + missing,
              ". Every parameter must take part in the loss of every step on every rank (PyTorch's "
              "find_unused_parameters=False)");
}

}  // namespace minidl
