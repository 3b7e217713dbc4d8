#include "common/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/escape.h"
#include "common/report.h"
#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/data/split.h"

namespace minidl::app {

namespace {

// --train-limit: n training images in the class balance of the whole training set.
data::DatasetPtr limit(const data::DatasetPtr& d, std::int64_t n, std::string* note) {
  if (n <= 0 || n >= d->size()) return d;
  auto subset = std::make_shared<data::Subset>(d, data::stratified_head(*d, n), "limit " + std::to_string(n));
  *note += "; --train-limit " + std::to_string(n) + ": the first images of each class, in the class balance of all " +
           std::to_string(d->size()) + " training images";
  return subset;
}

}  // namespace

TrainResult train(const TrainConfig& flags, const std::set<std::string>& given) {
  const TrainConfig config = resolve_config(flags, given);
  Trainer trainer(config, parallel_context(config));
  trainer.setup();
  for (std::int64_t epoch = trainer.first_epoch(); epoch < trainer.epochs(); ++epoch) {
    if (trainer.stop_before(epoch)) return trainer.result();
    const EpochTally tally = trainer.train_epoch(epoch);
    if (!trainer.result().diverged) trainer.end_epoch(epoch, tally);
    if (trainer.result().diverged) return trainer.result();
  }
  trainer.finish();
  return trainer.result();
}

Trainer::Trainer(TrainConfig config, ParallelContext parallel, TrainerHooks hooks)
    : cfg_(std::move(config)), parallel_(parallel), hooks_(std::move(hooks)), run_(cfg_.out) {
  if (!parallel_.is_main()) cfg_.quiet = true;
  result_.out = cfg_.out;
  if (cfg_.resume.empty()) cfg_.world_size = parallel_.world_size;
}

void Trainer::setup() {
  cfg_.validate();
  MINIDL_CHECK(cfg_.world_size == parallel_.world_size, "--resume ", cfg_.resume, ": the run was trained by ",
               cfg_.world_size, " process", cfg_.world_size == 1 ? "" : "es", ", this is ", parallel_.world_size,
               "; continue it with ", cfg_.world_size == 1 ? std::string("one process (no mpirun)") :
               "mpirun -np " + std::to_string(cfg_.world_size),
               " (each step's global batch and the shards depend on the number of processes)");
  device_ = rank_device(cfg_, parallel_);
  MINIDL_CHECK(!cfg_.cuda_graph || device_.is_cuda(), "--cuda-graph captures the training step on a GPU; the run is on ",
               device_.str(), " (give --device cuda)");
  MINIDL_CHECK(!cfg_.cuda_graph || !parallel_.distributed(), "--cuda-graph is for one process: data-parallel training "
               "reduces gradients on a stream of its own during backward, which one stream's capture does not hold");
  MINIDL_CHECK(!cfg_.cuda_graph || !hooks_.after_backward, "--cuda-graph: a gradient hook runs host code after each "
               "backward pass, which a replayed graph would skip");
  precision_ = parse_precision(cfg_.precision, "--precision");
  if (precision_ == Precision::BFloat16 && device_.is_cpu() && !cfg_.quiet && parallel_.is_main())
    std::printf("note: %s\n", cpu_bf16_note().c_str());
  // The CPU convolutions' benchmark setting (docs/usage.md) trades reproducibility for speed:
  // say so where the user set it, as cuDNN users know it from cudnn.benchmark.
  const char* conv = std::getenv("MINIDL_CPU_CONV");
  if (conv && std::string(conv) == "benchmark" && device_.is_cpu() && !cfg_.quiet && parallel_.is_main())
    std::printf("note: MINIDL_CPU_CONV=benchmark: the first step times the convolution backends of each layer and "
                "keeps the fastest, so this run (and a --resume of it) is not bit-identical to another run\n");
  // Everything random below (the data's split, the initial weights) follows from the seed, in
  // this order: a resumed run rebuilds the same data and then loads the generator's state.
  manual_seed(cfg_.seed);
  setup_data();
  setup_model();
  setup_loader();
  // The folder is taken only now, so that bad data or flags leave no folder behind.
  const bool resuming = !cfg_.resume.empty();
  if (parallel_.is_main()) run_.open_for_writing(resuming ? "--resume" : "--out", resuming, cfg_.force, cfg_.quiet);
  restore();
  setup_parallel();
  if (parallel_.is_main()) run_.write_config(cfg_);
  announce();
}

void Trainer::announce() {
  progress_ = std::make_unique<TrainProgress>(cfg_, steps_per_epoch_);
  if (!cfg_.resume.empty()) progress_->resumed(cfg_.out, start_epoch_);
  TrainProgress::RunSummary summary;
  summary.data_description = train_set_->description();
  summary.split_note = splits_.note;
  summary.train_images = train_set_->size();
  summary.val_images = val_set_->size();
  summary.class_names = train_set_->class_names();
  summary.class_counts = train_set_->class_counts();
  summary.parameters = model_->num_parameters();
  summary.device = device_;
  summary.ranks = parallel_.world_size;
  summary.sync_bn_layers = sync_bn_layers_;
  progress_->start(summary);
}

void Trainer::setup_parallel() {
  val_shard_ = shard(val_set_, parallel_);
  if (!parallel_.distributed()) return;
  if (cfg_.sync_bn) sync_bn_layers_ = convert_sync_batch_norm(*model_, parallel_.group);
  ddp_ = std::make_unique<DistributedDataParallel>(*model_, *parallel_.group);
}

void Trainer::setup_data() {
  data::DataSourceOptions src = data_source_from_flag(cfg_.data);
  src.height = src.width = cfg_.input_size;
  src.seed = cfg_.seed;
  src.synthetic_size = cfg_.synthetic_size;
  src.val_fraction = cfg_.val_fraction;
  src.skip_bad = cfg_.skip_bad;
  splits_ = data::open_data(src);
  train_set_ = limit(splits_.train, cfg_.train_limit, &splits_.note);
  val_set_ = splits_.val;
  const std::int64_t global_batch = cfg_.batch_size * parallel_.world_size;
  MINIDL_CHECK(train_set_->size() >= global_batch, "the training set has ", train_set_->size(),
               " images, fewer than one batch of ", global_batch,
               parallel_.world_size > 1 ? detail::str(" (", parallel_.world_size, " ranks x --batch-size ",
                                                      cfg_.batch_size, ")") : std::string());
}

void Trainer::setup_model() {
  info_.width = cfg_.width;
  info_.input_size = cfg_.input_size;
  info_.class_names = train_set_->class_names();
  model_ = info_.build();
  model_->to(device_);

  CrossEntropyOptions ce;
  ce.label_smoothing = cfg_.label_smoothing;
  if (cfg_.class_weights == "balanced") {
    // sklearn's "balanced": n / (classes * n_c); absent classes get 0.
    const auto counts = train_set_->class_counts();
    std::vector<float> w(counts.size());
    for (std::size_t c = 0; c < counts.size(); ++c)
      w[c] = counts[c] ? static_cast<float>(train_set_->size()) / static_cast<float>(counts.size() * counts[c]) : 0.f;
    ce.weight = Tensor::from_vector(w).to(device_);
  }
  loss_fn_ = std::make_unique<CrossEntropyLoss>(ce);

  if (cfg_.optimizer == "sgd")
    opt_ = std::make_unique<SGD>(
        model_->named_parameters(),
        SGDOptions(cfg_.lr).momentum(cfg_.momentum).weight_decay(cfg_.weight_decay).nesterov(cfg_.nesterov));
  else
    opt_ = std::make_unique<AdamW>(model_->named_parameters(), AdamWOptions(cfg_.lr).weight_decay(cfg_.weight_decay));

  eval_options_.device = device_;
  eval_options_.workers = cfg_.workers;
  eval_options_.precision = precision_;
}

void Trainer::setup_loader() {
  data::DataLoaderOptions lo;
  lo.batch_size = cfg_.batch_size;
  lo.shuffle = true;
  lo.class_balanced = cfg_.sampler == "balanced";
  lo.drop_last = true;  // a tiny last batch would give batch norm noisy statistics
  lo.num_workers = cfg_.workers;
  lo.seed = cfg_.seed;
  lo.augment = cfg_.aug;
  lo.augment_options = cfg_.aug_options;
  // This rank's shard of each epoch: global batch k is batch k of every rank together.
  lo.num_replicas = parallel_.world_size;
  lo.rank = parallel_.rank;
  loader_ = std::make_unique<data::DataLoader>(train_set_, lo);
  steps_per_epoch_ = loader_->num_batches();

  sched_.kind = LrSchedule::parse(cfg_.schedule);
  sched_.base_lr = cfg_.lr;
  sched_.total_steps = steps_per_epoch_ * cfg_.epochs;
  sched_.step_size = steps_per_epoch_ * std::max<std::int64_t>(1, cfg_.epochs / 3);
  sched_.warmup_steps = static_cast<std::int64_t>(cfg_.warmup_epochs * static_cast<double>(steps_per_epoch_));
}

void Trainer::restore() {
  if (cfg_.resume.empty()) return;
  MINIDL_CHECK(run_.has_train_state(), "--resume ", cfg_.resume, ": no train_state.safetensors (the run saved no epoch yet)");
  const TrainState state = run_.load_train_state(*model_, *opt_);
  // The data is opened again from its path: it must still be what the run trained on.
  const auto& names = train_set_->class_names();
  MINIDL_CHECK(state.class_names.empty() || state.class_names == names, "--resume ", cfg_.resume, ": the classes of ",
               cfg_.data, " (", printable_list(names), ") are not those the run trained on (",
               printable_list(state.class_names), ")");
  MINIDL_CHECK(state.train_images < 0 || state.train_images == train_set_->size(), "--resume ", cfg_.resume, ": ",
               cfg_.data, " now gives ", train_set_->size(), " training images, the run trained on ", state.train_images,
               "; the data changed, so the run cannot continue exactly (start a new run)");
  start_epoch_ = state.epochs_done;
  global_step_ = state.global_step;
  result_.history = state.history;
  for (const auto& m : result_.history)
    if (m.val_acc > result_.best_val_acc || result_.best_epoch == 0)
      result_.best_epoch = m.epoch, result_.best_val_acc = m.val_acc, result_.best_val_loss = m.val_loss;
  // A run killed after saving its state but before its metrics (or resumed when already
  // complete) would otherwise keep files that miss the last epochs.
  if (parallel_.is_main() && !result_.history.empty()) run_.write_history(result_.history, curves_title());
}

bool Trainer::stop_before(std::int64_t epoch) {
  if (cfg_.stop_after <= 0 || epoch - start_epoch_ < cfg_.stop_after) return false;
  progress_->stopped_early(cfg_.out);
  result_.stopped_early = true;
  return true;
}

EpochTally Trainer::train_epoch(std::int64_t epoch) {
  model_->train();
  loader_->start_epoch(epoch);
  progress_->start_epoch();
  const auto start = std::chrono::steady_clock::now();
  EpochTally tally;
  data::Batch batch;
  while (loader_->next(batch))
    if (!train_step(epoch, batch, tally)) {
      result_.diverged = true;
      break;
    }
  tally.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return tally;
}

Tensor Trainer::forward_loss(const Tensor& x, const Tensor& y, Tensor& logits) {
  // The loss is computed under the policy too: cross-entropy stays FP32 whatever it says.
  AutocastGuard autocast(precision_);
  logits = ddp_ ? ddp_->forward(x) : model_->forward(x);
  return (*loss_fn_)(logits, y);
}

bool Trainer::train_step(std::int64_t epoch, const data::Batch& batch, EpochTally& tally) {
  const double lr = sched_.lr_at(global_step_);
  opt_->set_lr(lr);
  const Tensor x = batch.images.to(device_), y = batch.labels.to(device_);
  Tensor logits;
  // The training loader drops the last partial batch, so every batch has the graph's shape; one
  // that did not would run eagerly.
  if (cfg_.cuda_graph && batch.size() == cfg_.batch_size) {
    const Tensor loss = graphed_step(x, y, logits);
    if (!tally_step(epoch, batch, loss, logits, lr, tally)) return false;
    ++global_step_;
    return true;
  }
  opt_->zero_grad();
  Tensor loss = forward_loss(x, y, logits);
  if (!tally_step(epoch, batch, loss, logits, lr, tally)) return false;
  finish_step(loss);
  ++global_step_;
  return true;
}

Tensor Trainer::graphed_step(const Tensor& x, const Tensor& y, Tensor& logits) {
  if (!graphed_) {
    // Two eager steps first: the momentum buffers are made, and the allocator has grown to a step.
    graphed_ = std::make_unique<GraphedStep>(
        *model_, *opt_,
        std::vector<Tensor>{Tensor::zeros(x.shape(), x.dtype(), device_), Tensor::zeros(y.shape(), y.dtype(), device_)},
        [this](const std::vector<Tensor>& in) {
          opt_->zero_grad();
          Tensor loss = forward_loss(in[0], in[1], graphed_logits_);
          finish_step(loss);
          return loss;
        },
        /*warmup_steps=*/2);
  }
  const Tensor loss = (*graphed_)({x, y});
  logits = graphed_logits_;
  return loss;
}

void Trainer::finish_step(const Tensor& loss) {
  loss.backward();
  if (ddp_) ddp_->synchronize();  // the averaged gradients are in place
  if (hooks_.after_backward) hooks_.after_backward(model_->parameters());
  if (cfg_.clip_grad_norm > 0) clip_grad_norm_(model_->parameters(), cfg_.clip_grad_norm);
  opt_->step();
}

bool Trainer::tally_step(std::int64_t epoch, const data::Batch& batch, const Tensor& loss, const Tensor& logits,
                         double lr, EpochTally& tally) {
  const double l = loss.item();
  const auto pred = argmax(logits).to_vector<std::int64_t>();
  const auto labels = batch.labels.to_vector<std::int64_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) correct += pred[i] == labels[i];
  // The step's figures over every rank: each rank then tallies the global batch, and all agree
  // to stop when any rank's loss is not finite (one rank stopping alone would leave the others
  // waiting in the gradient reduction).
  StepSums step{l * static_cast<double>(batch.size()), static_cast<double>(correct),
                static_cast<double>(batch.size()), std::isfinite(l) ? 0.0 : 1.0};
  if (parallel_.distributed()) step = sum_over_ranks(step);
  if (step.non_finite > 0) {
    if (!parallel_.is_main()) return false;  // rank 0 says it for all
    const std::string ranks = parallel_.world_size > 1 ? detail::str(" on ", step.non_finite, " of ",
                                                                     parallel_.world_size, " ranks") : "";
    progress_->diverged(detail::str("the loss became ", std::isfinite(l) ? "not finite" : std::isnan(l) ? "NaN" : "infinite",
                                    ranks, " at epoch ", epoch + 1, " step ", tally.steps + 1, " (lr ", lr, ")"),
                        last_good());
    return false;
  }
  tally.correct += static_cast<std::int64_t>(step.correct);
  tally.seen += static_cast<std::int64_t>(step.seen);
  tally.loss_sum += step.loss_sum;
  ++tally.steps;
  progress_->step(epoch, tally, lr);
  return true;
}

std::map<std::string, std::string> Trainer::checkpoint_metadata(const EpochMetrics& m) const {
  auto meta = info_.to_metadata();
  meta["minidl.epoch"] = std::to_string(m.epoch);
  meta["minidl.val_acc"] = std::to_string(m.val_acc);
  return meta;
}

std::string Trainer::curves_title() const { return cfg_.aug ? "augmentation on" : "augmentation off"; }

Trainer::StepSums Trainer::sum_over_ranks(const StepSums& s) const {
  Tensor v = Tensor::from_vector(std::vector<double>{s.loss_sum, s.correct, s.seen, s.non_finite});
  parallel_.group->all_reduce(v);
  const std::vector<double> r = v.to_vector<double>();
  return {r[0], r[1], r[2], r[3]};
}

void Trainer::end_epoch(std::int64_t epoch, const EpochTally& tally) {
  // Every rank evaluates the same model: rank 0's batch-norm statistics (the only state that
  // ranks update apart) go to all first. Each evaluates its shard; the figures are summed.
  if (ddp_) ddp_->sync_buffers();
  EvalResult val = evaluate(*model_, val_shard_, eval_options_);
  all_reduce_evaluation(val, parallel_);
  // The loss of each step was finite, but weights or batch-norm statistics can still have
  // overflowed: such a model is never saved, nor its epoch reported. (Every rank holds the same
  // weights and the summed validation loss, so every rank stops here together.)
  std::string bad = first_non_finite(*model_);
  if (bad.empty() && !std::isfinite(val.loss)) bad = detail::str("the validation loss is ", val.loss);
  if (!bad.empty()) {
    if (parallel_.is_main()) progress_->diverged(detail::str("after epoch ", epoch + 1, ", ", bad), last_good());
    result_.diverged = true;
    return;
  }
  EpochMetrics m;
  m.epoch = epoch + 1;
  m.train_loss = tally.loss();
  m.train_acc = tally.accuracy();
  m.val_loss = val.loss;
  m.val_acc = val.accuracy();
  m.lr = opt_->lr();
  m.seconds = tally.seconds + val.seconds;
  m.images_per_sec = static_cast<double>(tally.seen) / tally.seconds;
  result_.history.push_back(m);

  const bool best = result_.best_epoch == 0 || m.val_acc > result_.best_val_acc ||
                    (m.val_acc == result_.best_val_acc && m.val_loss < result_.best_val_loss);
  if (best) result_.best_epoch = m.epoch, result_.best_val_acc = m.val_acc, result_.best_val_loss = m.val_loss;
  if (parallel_.is_main()) {
    if (best) run_.save_model("best", *model_, checkpoint_metadata(m));
    run_.save_model("last", *model_, checkpoint_metadata(m));
    TrainState state{epoch + 1, global_step_, result_.history, train_set_->class_names(), train_set_->size()};
    run_.save_train_state(*model_, *opt_, state);
    run_.write_history(result_.history, curves_title());
  }
  progress_->end_epoch(m, best);
}

std::string Trainer::last_good() const {
  return result_.history.empty() ? "none yet" : run_.file("last.safetensors");
}

void Trainer::finish() {
  if (!parallel_.is_main() || !cfg_.write_report || result_.best_epoch == 0) return;
  // The run's summary is of the best model on the validation set.
  LoadedModel best = load_model(run_.file("best.safetensors"));
  best.model->to(device_);
  const EvalResult val = evaluate(*best.model, val_set_, eval_options_);
  write_evaluation_files(run_.path(), val, "validation");
  // What the augmentation did to the first training image in the first 11 epochs.
  const AugmentPreview preview = preview_augmentation(*train_set_, 0, cfg_.aug_options, cfg_.seed, 11, cfg_.aug);
  run_.write_png("augmentation.png", preview_sheet(preview, 6, 2));
  write_report(run_.file("report.html"), cfg_.to_json(), result_.history, val, *val_set_, run_.file("curves.svg"),
               &preview);
  progress_->finished(result_.best_epoch, val, run_.path());
}

}  // namespace minidl::app
