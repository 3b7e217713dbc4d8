#include "minidl/data/sampler.h"

#include <numeric>

#include "minidl/base/error.h"
#include "minidl/data/random.h"

namespace minidl::data {

namespace {

constexpr std::uint64_t kShuffleStream = 0x5a3f1e;
constexpr std::uint64_t kBalancedStream = 0xba1a;

template <typename T>
void shuffle(std::vector<T>& v, SampleRng& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

}  // namespace

std::vector<std::int64_t> SequentialSampler::epoch_order(std::int64_t) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

std::vector<std::int64_t> RandomSampler::epoch_order(std::int64_t epoch) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n_));
  std::iota(order.begin(), order.end(), 0);
  SampleRng rng(seed_, kShuffleStream, static_cast<std::uint64_t>(epoch));
  shuffle(order, rng);
  return order;
}

ClassBalancedSampler::ClassBalancedSampler(const std::vector<std::int64_t>& labels, std::int64_t num_classes,
                                           std::uint64_t seed, std::int64_t epoch_size)
    : seed_(seed), epoch_size_(epoch_size > 0 ? epoch_size : static_cast<std::int64_t>(labels.size())) {
  std::vector<std::vector<std::int64_t>> by(static_cast<std::size_t>(num_classes));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    MINIDL_CHECK(labels[i] >= 0 && labels[i] < num_classes, "ClassBalancedSampler: sample ", i, " has label ",
                 labels[i], " outside [0, ", num_classes, ")");
    by[labels[i]].push_back(static_cast<std::int64_t>(i));
  }
  for (auto& members : by)
    if (!members.empty()) by_class_.push_back(std::move(members));
  MINIDL_CHECK(!by_class_.empty(), "ClassBalancedSampler: no samples (empty data set)");
}

std::vector<std::int64_t> ClassBalancedSampler::epoch_order(std::int64_t epoch) const {
  SampleRng rng(seed_, kBalancedStream, static_cast<std::uint64_t>(epoch));
  const auto k = static_cast<std::int64_t>(by_class_.size());
  std::vector<std::int64_t> quota(static_cast<std::size_t>(k), epoch_size_ / k);
  std::vector<std::int64_t> classes(static_cast<std::size_t>(k));
  std::iota(classes.begin(), classes.end(), 0);
  shuffle(classes, rng);
  for (std::int64_t r = 0; r < epoch_size_ % k; ++r) ++quota[classes[r]];

  std::vector<std::int64_t> order;
  order.reserve(static_cast<std::size_t>(epoch_size_));
  for (std::int64_t c = 0; c < k; ++c) {
    // Cycle through the class in shuffled passes. The passes continue across epochs (pass p of
    // the class starts where epoch e's draws left off), so over a run every sample of a rare
    // class is seen equally often.
    const auto& members = by_class_[c];
    const auto n = static_cast<std::int64_t>(members.size());
    const std::int64_t start = epoch * quota[c];  // draws this class had before (quota is fixed per epoch up to +-1)
    std::int64_t pass = -1;
    std::vector<std::int64_t> perm;
    for (std::int64_t d = 0; d < quota[c]; ++d) {
      const std::int64_t draw = start + d;
      if (draw / n != pass) {
        pass = draw / n;
        perm = members;
        SampleRng prng(seed_, kBalancedStream ^ 0xc1a55, static_cast<std::uint64_t>(c), static_cast<std::uint64_t>(pass));
        shuffle(perm, prng);
      }
      order.push_back(perm[draw % n]);
    }
  }
  shuffle(order, rng);
  return order;
}

DistributedSampler::DistributedSampler(std::unique_ptr<Sampler> base, std::int64_t replicas, std::int64_t rank,
                                       bool equal_shards)
    : base_(std::move(base)), replicas_(replicas), rank_(rank), equal_(equal_shards) {
  MINIDL_CHECK(base_ != nullptr, "DistributedSampler: no base sampler");
  MINIDL_CHECK(replicas_ >= 1 && rank_ >= 0 && rank_ < replicas_, "DistributedSampler: rank ", rank_,
               " is not in [0, ", replicas_, ")");
  MINIDL_CHECK(!equal_ || base_->epoch_size() >= replicas_, "DistributedSampler: ", base_->epoch_size(),
               " samples cannot give each of ", replicas_, " ranks one");
}

std::int64_t DistributedSampler::epoch_size() const {
  const std::int64_t n = base_->epoch_size();
  return equal_ ? n / replicas_ : (n - rank_ + replicas_ - 1) / replicas_;
}

std::vector<std::int64_t> DistributedSampler::epoch_order(std::int64_t epoch) const {
  const std::vector<std::int64_t> all = base_->epoch_order(epoch);
  const std::int64_t n = static_cast<std::int64_t>(all.size());
  const std::int64_t end = equal_ ? n / replicas_ * replicas_ : n;
  std::vector<std::int64_t> mine;
  mine.reserve(static_cast<std::size_t>(epoch_size()));
  for (std::int64_t i = rank_; i < end; i += replicas_) mine.push_back(all[static_cast<std::size_t>(i)]);
  return mine;
}

}  // namespace minidl::data
