// Data-parallel training as PyTorch's DistributedDataParallel: every rank holds the whole model
// and runs its own share of the global batch; gradients are averaged over ranks during backward.
//
//   DistributedDataParallel ddp(*model, dist::world());  // rank 0's parameters and buffers to all
//   ...
//   Tensor logits = ddp.forward(x);   // rank 0's buffers first (broadcast_buffers), then the model
//   loss.backward();                  // buckets of gradients reduced while backward runs
//   ddp.synchronize();                // every grad() now holds the average over ranks
//   opt.step();
//
// How the reduction overlaps backward (DDP's design): parameters are grouped into buckets of
// about bucket_cap_bytes, in reverse registration order (roughly the order backward produces
// their gradients); the first bucket is small so that communication starts early. A hook in the
// autograd engine (Tensor::register_post_accumulate_grad_hook) copies each parameter's final
// gradient into its bucket; a full bucket starts an asynchronous all_reduce (Average). Buckets
// are started strictly in index order on every rank, so every rank calls the same collectives in
// the same order whatever order its hooks ran in. When the last bucket has started, the hook waits
// for all of them and copies the averages back into the gradients, so backward returns with
// averaged gradients; synchronize() checks that it happened.
//
// Every parameter must receive a gradient in every backward pass (PyTorch's default,
// find_unused_parameters=False); synchronize() names any that did not.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "minidl/core/distributed.h"
#include "minidl/layers/module.h"

namespace minidl {

struct DdpOptions {
  std::size_t bucket_cap_bytes = 25u << 20;       // PyTorch's bucket_cap_mb = 25
  std::size_t first_bucket_cap_bytes = 1u << 20;  // PyTorch's first bucket: 1 MiB
  // Rank 0's floating buffers (batch-norm running statistics) to every rank before each forward
  // in training, so that ranks do not drift apart (PyTorch's broadcast_buffers=True).
  bool broadcast_buffers = true;
};

class DistributedDataParallel {
 public:
  // Broadcasts rank 0's parameters and buffers to every rank and registers the gradient hooks.
  // The module's parameters keep their place (devices, optimiser) and must not change after.
  DistributedDataParallel(Module& module, dist::ProcessGroup& group, DdpOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;

  // module.forward(x), after rank 0's buffers are sent to all in training mode.
  Tensor forward(const Tensor& x);
  // After backward: throws unless every bucket was reduced, naming the parameters that got no
  // gradient. (The reduction itself finishes inside backward.)
  void synchronize();
  // Rank 0's floating buffers to every rank (before validation, so all ranks evaluate one model).
  void sync_buffers();

  Module& module() { return module_; }
  std::size_t num_buckets() const { return buckets_.size(); }
  // The parameter names of bucket b, in bucket order (for tests and the docs).
  std::vector<std::string> bucket_parameter_names(std::size_t b) const;
  // How long the last backward waited for communication after its last gradient was ready:
  // the part of the reduction that did not overlap with backward (seconds, host clock).
  double last_exposed_wait_seconds() const { return exposed_wait_; }
  // How many buckets of the last backward started their reduction while some gradient was still
  // to come: the overlap with backward (0 means the reduction all happened at the end).
  std::size_t overlapped_buckets() const { return overlapped_; }

 private:
  struct Slot {
    std::string name;
    Tensor param;
    std::size_t bucket = 0;
    std::int64_t offset = 0;  // in elements of the bucket's flat buffer
    int hook = -1;
    bool ready = false;       // its gradient of this step is in the bucket
  };
  struct Bucket {
    Tensor flat;                   // the gradients of its parameters, one after another
    std::vector<std::size_t> slots;
    std::size_t pending = 0;       // parameters whose gradient is not in flat yet
    std::shared_ptr<dist::Work> work;
  };

  void on_grad_ready(std::size_t slot);
  void launch_ready_buckets();
  void finish_reduction();
  void reset_step();
  bool step_started() const;

  Module& module_;
  dist::ProcessGroup& group_;
  DdpOptions options_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  Tensor flat_buffers_;                 // rank 0's floating buffers, for broadcast_buffers
  NamedTensors float_buffers_;
  std::size_t next_bucket_ = 0;         // the next bucket to start, in index order
  std::size_t not_ready_ = 0;           // parameters whose gradient of this step is still to come
  std::size_t overlapped_ = 0;
  bool reduced_ = false;                // this step's gradients are averaged
  double exposed_wait_ = 0;
};

}  // namespace minidl
