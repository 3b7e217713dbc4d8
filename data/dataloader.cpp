#include "minidl/data/dataloader.h"

#include <algorithm>
#include <cmath>

#include "minidl/data/data_error.h"
#include "minidl/kernels/augment.h"

namespace minidl::data {

void DataLoaderOptions::validate() const {
  MINIDL_CHECK(batch_size > 0, "DataLoader: batch size ", batch_size, " must be positive");
  MINIDL_CHECK(num_workers >= 0 && num_workers <= 256, "DataLoader: ", num_workers, " workers (expected 0 to 256)");
  MINIDL_CHECK(prefetch >= 1, "DataLoader: prefetch ", prefetch, " must be at least 1");
  MINIDL_CHECK(std::isfinite(mean) && std::isfinite(std) && std > 0.f, "DataLoader: normalisation mean ", mean,
               " std ", std, " (std must be positive)");
  MINIDL_CHECK(num_replicas >= 1 && rank >= 0 && rank < num_replicas, "DataLoader: rank ", rank, " of ", num_replicas,
               " replicas");
  if (augment) augment_options.validate();
}

Batch make_batch(const Dataset& dataset, const std::vector<std::int64_t>& indices, std::int64_t epoch,
                 const DataLoaderOptions& o) {
  const std::int64_t n = static_cast<std::int64_t>(indices.size()), h = dataset.height(), w = dataset.width();
  const std::int64_t k = dataset.num_classes();
  Batch b;
  b.indices = indices;
  b.images = Tensor::empty({n, 1, h, w}, DType::Float32);
  b.labels = Tensor::empty({n}, DType::Int64);
  float* img = b.images.data<float>();
  std::int64_t* lab = b.labels.data<std::int64_t>();
  // pixel / 255 - mean) / std as one multiply-add.
  const float scale = 1.f / (255.f * o.std), shift = -o.mean / o.std;
  const bool warp_now = o.augment && !o.defer_augment;
  if (o.augment && o.defer_augment) b.warp_fill = o.augment_options.fill * scale + shift;
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t idx = indices[j];
    Sample s = dataset.get(idx);
    if (s.image.h != h || s.image.w != w || static_cast<std::int64_t>(s.image.pixels.size()) != h * w)
      throw_data_error(dataset.description(), ": sample ", idx, " is a ", s.image.h, "x", s.image.w,
                       " image; the data set promises ", h, "x", w);
    if (s.label < 0 || s.label >= k)
      throw_data_error(dataset.description(), ": sample ", idx, " has label ", s.label, ", outside the ", k,
                       " classes");
    lab[j] = s.label;
    float* dst = img + j * h * w;
    if (o.augment) {
      const AugmentParams p = sample_augment(o.augment_options, o.seed, epoch, idx, h, w);
      const AffineMatrix m = affine_matrix(p, h, w);
      if (!warp_now) {
        b.warps.push_back(m);
      } else {
        kernels::cpu::affine_warp(kernels::cpu::Stream{}, 1, h, w, s.image.pixels.data(), &m, o.augment_options.fill,
                                  dst);
        for (std::int64_t q = 0; q < h * w; ++q) dst[q] = dst[q] * scale + shift;
        continue;
      }
    }
    const std::uint8_t* src = s.image.pixels.data();
    for (std::int64_t q = 0; q < h * w; ++q) dst[q] = static_cast<float>(src[q]) * scale + shift;
  }
  return b;
}

DataLoader::DataLoader(DatasetPtr dataset, const DataLoaderOptions& options)
    : dataset_(std::move(dataset)), options_(options) {
  MINIDL_CHECK(dataset_ != nullptr, "DataLoader: no data set");
  options_.validate();
  if (dataset_->size() == 0) throw_data_error(dataset_->description(), ": empty data set, nothing to load");
  if (options_.class_balanced)
    sampler_ = std::make_unique<ClassBalancedSampler>(dataset_->labels(), dataset_->num_classes(), options_.seed);
  else if (options_.shuffle)
    sampler_ = std::make_unique<RandomSampler>(dataset_->size(), options_.seed);
  else
    sampler_ = std::make_unique<SequentialSampler>(dataset_->size());
  if (options_.num_replicas > 1)
    sampler_ = std::make_unique<DistributedSampler>(std::move(sampler_), options_.num_replicas, options_.rank, true);
  for (int t = 0; t < options_.num_workers; ++t) workers_.emplace_back([this] { worker_loop(); });
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

std::int64_t DataLoader::epoch_size() const { return sampler_->epoch_size(); }

std::int64_t DataLoader::num_batches() const {
  const std::int64_t n = epoch_size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<std::int64_t> DataLoader::batch_indices(std::int64_t k) const {
  const std::int64_t b = options_.batch_size;
  const auto first = order_.begin() + static_cast<std::ptrdiff_t>(k * b);
  const auto last = order_.begin() + static_cast<std::ptrdiff_t>(std::min<std::int64_t>((k + 1) * b, order_.size()));
  return std::vector<std::int64_t>(first, last);
}

void DataLoader::start_epoch(std::int64_t epoch) {
  MINIDL_CHECK(epoch >= 0, "DataLoader: epoch ", epoch, " is negative");
  std::vector<std::int64_t> order = sampler_->epoch_order(epoch);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++generation_;
    epoch_ = epoch;
    order_ = std::move(order);
    num_batches_ = num_batches();
    next_claim_ = next_consume_ = 0;
    ready_.clear();
  }
  work_cv_.notify_all();
}

bool DataLoader::next(Batch& batch) {
  std::unique_lock<std::mutex> lock(mu_);
  MINIDL_CHECK(epoch_ >= 0, "DataLoader: next() before start_epoch(epoch)");
  if (next_consume_ >= num_batches_) return false;
  const std::int64_t k = next_consume_;
  Result r;
  if (workers_.empty()) {
    const std::vector<std::int64_t> idx = batch_indices(k);
    ++next_consume_;
    lock.unlock();
    batch = make_batch(*dataset_, idx, epoch_, options_);
    return true;
  }
  ready_cv_.wait(lock, [&] { return ready_.count(k) > 0; });
  r = std::move(ready_[k]);
  ready_.erase(k);
  ++next_consume_;
  lock.unlock();
  work_cv_.notify_all();  // a slot in the prefetch window opened
  if (r.error) std::rethrow_exception(r.error);
  batch = std::move(r.batch);
  return true;
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stop_ || (next_claim_ < num_batches_ && next_claim_ < next_consume_ + options_.prefetch);
    });
    if (stop_) return;
    const std::int64_t k = next_claim_++;
    const std::uint64_t gen = generation_;
    const std::int64_t epoch = epoch_;
    const std::vector<std::int64_t> idx = batch_indices(k);
    lock.unlock();
    Result r;
    try {
      r.batch = make_batch(*dataset_, idx, epoch, options_);
    } catch (...) {
      r.error = std::current_exception();
    }
    lock.lock();
    if (gen == generation_) {
      ready_.emplace(k, std::move(r));
      ready_cv_.notify_all();
    }
  }
}

}  // namespace minidl::data
