#include "common/evaluation.h"

#include <chrono>
#include <cmath>

#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/data/dataloader.h"

namespace minidl::app {

namespace {
// The horizontal mirror of a [n, 1, h, w] batch (CPU).
Tensor mirror(const Tensor& images) {
  Tensor out = Tensor::empty_like(images);
  const std::int64_t w = images.size(3), rows = images.numel() / w;
  const float* src = images.data<float>();
  float* dst = out.data<float>();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t x = 0; x < w; ++x) dst[r * w + x] = src[r * w + (w - 1 - x)];
  return out;
}

// Softmax probabilities from logits, on the host.
std::vector<double> softmax_rows(const Tensor& logits) {
  const std::vector<double> l = logits.to(Device::cpu()).to(DType::Float64).to_vector<double>();
  const std::int64_t rows = logits.size(0), cols = logits.size(1);
  std::vector<double> p(l.size());
  for (std::int64_t i = 0; i < rows; ++i) {
    double m = -INFINITY, s = 0;
    for (std::int64_t j = 0; j < cols; ++j) m = std::max(m, l[i * cols + j]);
    for (std::int64_t j = 0; j < cols; ++j) s += p[i * cols + j] = std::exp(l[i * cols + j] - m);
    for (std::int64_t j = 0; j < cols; ++j) p[i * cols + j] /= s;
  }
  return p;
}
}  // namespace

EvalResult evaluate(Module& model, const data::DatasetPtr& dataset, const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  AutocastGuard autocast(options.precision);

  data::DataLoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.shuffle = false;
  lo.num_workers = options.workers;
  lo.mean = options.mean;
  lo.std = options.std;
  data::DataLoader loader(dataset, lo);
  loader.start_epoch(0);

  EvalResult r{0.0, ConfusionMatrix(dataset->class_names()), {}, 0.0};
  const std::int64_t classes = dataset->num_classes();
  double loss_sum = 0;
  data::Batch batch;
  while (loader.next(batch)) {
    Tensor logits = model.forward(batch.images.to(options.device));
    MINIDL_CHECK(logits.size(1) == classes, "evaluate: the model has ", logits.size(1), " outputs but the data has ",
                 classes, " classes");
    std::vector<double> p = softmax_rows(logits);
    if (options.flip_tta) {
      const std::vector<double> q = softmax_rows(model.forward(mirror(batch.images).to(options.device)));
      for (std::size_t i = 0; i < p.size(); ++i) p[i] = 0.5 * (p[i] + q[i]);
    }
    const auto labels = batch.labels.to_vector<std::int64_t>();
    for (std::int64_t i = 0; i < batch.size(); ++i) {
      const double* row = &p[static_cast<std::size_t>(i * classes)];
      std::int64_t best = 0;
      for (std::int64_t c = 1; c < classes; ++c)
        if (row[c] > row[best]) best = c;
      const std::int64_t y = labels[static_cast<std::size_t>(i)];
      loss_sum -= std::log(std::max(row[y], 1e-30));
      r.confusion.add(y, best);
      r.predictions.push_back({batch.indices[static_cast<std::size_t>(i)], y, best, static_cast<float>(row[best])});
    }
  }
  r.loss = r.confusion.total() ? loss_sum / static_cast<double>(r.confusion.total()) : 0.0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  model.train(was_training);
  return r;
}

}  // namespace minidl::app
