#include "minidl/data/dataloader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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

namespace {

// (pixel / 255 - mean) / std as one multiply-add.
float pixel_scale(const DataLoaderOptions& o) { return 1.f / (255.f * o.std); }
float pixel_shift(const DataLoaderOptions& o) { return -o.mean / o.std; }

// Sample j's image into dst (c * h * w floats): normalised, warped now or its warp recorded.
void put_image(const Dataset& dataset, const Sample& s, std::int64_t idx, std::int64_t epoch,
               const DataLoaderOptions& o, float* dst, Batch& b) {
  const Shape shape = dataset.sample_shape();
  const std::int64_t c = shape[0], h = shape[1], w = shape[2];
  if (s.input.defined() || s.image.c != c || s.image.h != h || s.image.w != w || !s.image.consistent()) {
    // Gray images by their size alone ("4x3"), colour ones with their channels ("3x4x3").
    const bool gray = c == 1 && s.image.c == 1;
    auto size = [&](std::int64_t cc, std::int64_t hh, std::int64_t ww) {
      return gray ? detail::str(hh, "x", ww) : detail::str(cc, "x", hh, "x", ww);
    };
    throw_data_error(dataset.description(), ": sample ", idx, " is ",
                     s.input.defined() ? "a tensor " + s.input.str() : "a " + size(s.image.c, s.image.h, s.image.w) +
                                                                           " image",
                     "; the data set promises ", size(c, h, w), " images");
  }
  const float scale = pixel_scale(o), shift = pixel_shift(o);
  const std::int64_t plane = h * w;
  if (o.augment) {
    const AugmentParams p = sample_augment(o.augment_options, o.seed, epoch, idx, h, w);
    const AffineMatrix m = affine_matrix(p, h, w);
    if (o.defer_augment) {
      b.warps.push_back(m);
    } else {
      // Every channel of an image moves with the same warp.
      for (std::int64_t ch = 0; ch < c; ++ch) {
        float* d = dst + ch * plane;
        kernels::cpu::affine_warp(kernels::cpu::Stream{}, 1, h, w, s.image.pixels.data() + ch * plane, &m,
                                  o.augment_options.fill, d);
        for (std::int64_t q = 0; q < plane; ++q) d[q] = d[q] * scale + shift;
      }
      return;
    }
  }
  const std::uint8_t* src = s.image.pixels.data();
  for (std::int64_t q = 0; q < c * plane; ++q) dst[q] = static_cast<float>(src[q]) * scale + shift;
}

// Copies a tensor sample (a TensorDataset row) into slot j of `dst` [B, ...shape].
void put_tensor(const Dataset& dataset, const Tensor& t, std::int64_t idx, const char* what, const Tensor& dst,
                std::int64_t j) {
  const Shape row(dst.shape().begin() + 1, dst.shape().end());
  if (!t.defined() || t.shape() != row || t.dtype() != dst.dtype())
    throw_data_error(dataset.description(), ": sample ", idx, " has ", what, " ",
                     t.defined() ? t.str() : std::string("none"), "; the batch holds ", dtype_name(dst.dtype()),
                     shape_str(row));
  const std::size_t bytes = t.nbytes();
  std::memcpy(static_cast<char*>(dst.raw_data()) + j * bytes, t.raw_data(), bytes);
}

}  // namespace

Batch make_batch(const Dataset& dataset, const std::vector<std::int64_t>& indices, std::int64_t epoch,
                 const DataLoaderOptions& o) {
  const std::int64_t n = static_cast<std::int64_t>(indices.size());
  const std::int64_t k = dataset.num_classes();
  Batch b;
  b.indices = indices;
  if (n == 0) return b;
  // The first sample says what the batch holds: images or tensors, labels or float targets.
  Sample first = dataset.get(indices[0]);
  const bool tensors = first.input.defined(), float_targets = first.target.defined();
  if (tensors && o.augment)
    throw_data_error(dataset.description(), ": augmentation warps images; this data set's samples are tensors (",
                     first.input.str(), ")");
  Shape in_shape{n};
  const Shape s = tensors ? first.input.shape() : dataset.sample_shape();
  in_shape.insert(in_shape.end(), s.begin(), s.end());
  b.images = Tensor::empty(in_shape, tensors ? first.input.dtype() : DType::Float32);
  if (float_targets) {
    Shape t_shape{n};
    t_shape.insert(t_shape.end(), first.target.shape().begin(), first.target.shape().end());
    b.targets = Tensor::empty(t_shape, first.target.dtype());
  } else {
    b.labels = Tensor::empty({n}, DType::Int64);
  }
  if (o.augment && o.defer_augment) {
    if (s[0] != 1)
      throw_data_error(dataset.description(), ": defer_augment warps one-channel images on the GPU; these have ", s[0],
                       " channels (warp them in the loader: defer_augment = false)");
    b.warp_fill = o.augment_options.fill * pixel_scale(o) + pixel_shift(o);
  }
  const std::int64_t per_sample = numel_of(s);
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t idx = indices[j];
    const Sample sample = j == 0 ? std::move(first) : dataset.get(idx);
    if (tensors) put_tensor(dataset, sample.input, idx, "input", b.images, j);
    else put_image(dataset, sample, idx, epoch, o, b.images.data<float>() + j * per_sample, b);
    if (float_targets) {
      put_tensor(dataset, sample.target, idx, "target", b.targets, j);
      continue;
    }
    if (sample.target.defined())
      throw_data_error(dataset.description(), ": sample ", idx, " has a float target, sample ", indices[0],
                       " a class label");
    if (sample.label < 0 || sample.label >= k)
      throw_data_error(dataset.description(), ": sample ", idx, " has label ", sample.label, ", outside the ", k,
                       " classes");
    b.labels.data<std::int64_t>()[j] = sample.label;
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
