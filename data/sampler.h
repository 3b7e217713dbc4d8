// Samplers: the order in which one epoch visits a data set. An epoch's order is a pure
// function of (seed, epoch), so a resumed run replays the same epochs.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace minidl::data {

class Sampler {
 public:
  virtual ~Sampler() = default;
  // The sample indices of epoch `epoch`, in visiting order.
  virtual std::vector<std::int64_t> epoch_order(std::int64_t epoch) const = 0;
  // How many indices epoch_order returns.
  virtual std::int64_t epoch_size() const = 0;
};

// 0, 1, ..., n-1 every epoch (evaluation).
class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(std::int64_t n) : n_(n) {}
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const override;
  std::int64_t epoch_size() const override { return n_; }

 private:
  std::int64_t n_;
};

// A uniform random permutation of 0..n-1 per epoch (Fisher-Yates, seeded with (seed, epoch)).
class RandomSampler : public Sampler {
 public:
  RandomSampler(std::int64_t n, std::uint64_t seed) : n_(n), seed_(seed) {}
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const override;
  std::int64_t epoch_size() const override { return n_; }

 private:
  std::int64_t n_;
  std::uint64_t seed_;
};

// Every class equally often: an epoch of `epoch_size` draws (default: the data set's size)
// gives each non-empty class epoch_size / K of them (the remainder going to randomly chosen
// classes), then shuffles. Within a class the samples are taken in a fresh shuffled order,
// cycling, so a rare class (FER's Disgust) repeats each of its samples evenly rather than a
// few of them often.
class ClassBalancedSampler : public Sampler {
 public:
  ClassBalancedSampler(const std::vector<std::int64_t>& labels, std::int64_t num_classes, std::uint64_t seed,
                       std::int64_t epoch_size = 0);
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const override;
  std::int64_t epoch_size() const override { return epoch_size_; }

 private:
  std::vector<std::vector<std::int64_t>> by_class_;  // non-empty classes only
  std::uint64_t seed_;
  std::int64_t epoch_size_;
};

// One rank's share of another sampler's epoch, for data-parallel training (PyTorch's
// DistributedSampler): every rank draws the same epoch order from `base` (same seed, same epoch)
// and takes its positions rank, rank + replicas, rank + 2 * replicas, ... So shards are disjoint,
// and batch k of every rank together hold positions [k*B*replicas, (k+1)*B*replicas) of the
// order: exactly the global batch k of one process with a batch replicas times larger.
//   equal_shards = true:  the order is cut to a multiple of `replicas` first (at most
//                         replicas - 1 samples of each epoch's order left out, different ones each
//                         epoch when shuffled), so every rank has the same number of samples and
//                         of steps (training: every rank must call the same collectives).
//   equal_shards = false: every sample once; shard sizes differ by at most one (validation).
// Unlike PyTorch's default, no sample is repeated to even out the shards.
class DistributedSampler : public Sampler {
 public:
  DistributedSampler(std::unique_ptr<Sampler> base, std::int64_t replicas, std::int64_t rank, bool equal_shards);
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const override;
  std::int64_t epoch_size() const override;

 private:
  std::unique_ptr<Sampler> base_;
  std::int64_t replicas_, rank_;
  bool equal_;
};

}  // namespace minidl::data
