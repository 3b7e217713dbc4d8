// DataLoader: turns a Dataset into float batches for training, in background threads.
//
//   DataLoader loader(train_set, opts);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     Batch batch;
//     while (loader.next(batch)) { ... batch.images [B,C,H,W] float32, batch.labels [B] int64 ... }
//   }
//
// Each epoch visits the data in the order of its sampler (a seeded shuffle, the class-balanced
// sampler, or in order), cut into batches; worker threads build batches ahead of the consumer,
// at most `prefetch` of them, and next() hands them out in order. A batch is a pure function of
// (seed, epoch, batch number): the same seed gives the same batches, bit for bit, with any
// number of workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "minidl/core/tensor.h"
#include "minidl/data/augment.h"
#include "minidl/data/dataset.h"
#include "minidl/data/sampler.h"

namespace minidl::data {

struct DataLoaderOptions {
  std::int64_t batch_size = 64;
  bool shuffle = true;          // a new random order every epoch (else dataset order)
  bool class_balanced = false;  // draw every class equally often (overrides shuffle)
  bool drop_last = false;       // drop a last, smaller batch
  int num_workers = 2;          // threads building batches; 0 builds them in next()
  int prefetch = 4;             // batches built ahead of the consumer, at most
  std::uint64_t seed = 0;       // shuffling and augmentation
  bool augment = false;
  AugmentOptions augment_options;
  // With augment: leave the images unwarped and return each image's warp matrix in
  // Batch::warps, for a batched warp on the GPU (kernels::cuda::affine_warp).
  bool defer_augment = false;
  // images = (pixel / 255 - mean) / std, every channel alike (tensor inputs are left as they are)
  float mean = 0.f;
  float std = 1.f;
  // Data-parallel training: this rank's shard of each epoch (DistributedSampler, equal shards).
  std::int64_t num_replicas = 1;
  std::int64_t rank = 0;

  void validate() const;  // throws minidl::Error for a bad combination
};

struct Batch {
  // [B, C, H, W] float32 images, on the CPU; or a TensorDataset's inputs [B, ...] (its dtype).
  Tensor images;
  Tensor labels;   // [B] int64 class labels; undefined where the data set has float targets
  Tensor targets;  // [B, ...] float targets of a TensorDataset; undefined where there are labels
  std::vector<std::int64_t> indices;  // which samples of the data set, in batch order
  // Only with defer_augment: the warp of each image (output -> source), and the fill value
  // on the normalised scale.
  std::vector<AffineMatrix> warps;
  float warp_fill = 0.f;

  std::int64_t size() const { return static_cast<std::int64_t>(indices.size()); }
};

// Builds one batch from the given samples (what a worker does); exposed for evaluation code
// and tests. Throws DataError when the data set returns an image of the wrong size or a label
// outside its classes.
Batch make_batch(const Dataset& dataset, const std::vector<std::int64_t>& indices, std::int64_t epoch,
                 const DataLoaderOptions& options);

class DataLoader {
 public:
  DataLoader(DatasetPtr dataset, const DataLoaderOptions& options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Begins epoch `epoch` (any earlier epoch's remaining batches are dropped).
  void start_epoch(std::int64_t epoch);
  // The next batch of the current epoch; false when the epoch is over. An error a worker hit
  // while building this batch is rethrown here. Throws if no epoch was started.
  bool next(Batch& batch);

  std::int64_t num_batches() const;  // per epoch
  std::int64_t epoch_size() const;   // samples an epoch visits (before drop_last)
  std::int64_t epoch() const { return epoch_; }
  const DatasetPtr& dataset() const { return dataset_; }
  const DataLoaderOptions& options() const { return options_; }

 private:
  struct Result {
    Batch batch;
    std::exception_ptr error;
  };
  std::vector<std::int64_t> batch_indices(std::int64_t k) const;
  void worker_loop();

  DatasetPtr dataset_;
  DataLoaderOptions options_;
  std::unique_ptr<Sampler> sampler_;

  std::int64_t epoch_ = -1;
  std::vector<std::int64_t> order_;  // this epoch's visiting order
  std::int64_t num_batches_ = 0;
  std::int64_t next_claim_ = 0;      // first batch no worker has taken yet
  std::int64_t next_consume_ = 0;    // the batch next() returns next
  std::uint64_t generation_ = 0;     // bumped by start_epoch; stale work is discarded
  std::map<std::int64_t, Result> ready_;

  std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace minidl::data
