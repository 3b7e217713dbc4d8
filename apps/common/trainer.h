// The training run behind train_resnet: data, model, optimiser and schedule from a config; a
// loop with progress lines, a validation pass per epoch, metrics files, curves, checkpoints
// (written atomically), a NaN guard, and exact resume from the last checkpoint.
//
// A run folder holds:
//   config.json                 every setting, the seed and the version
//   metrics.csv, metrics.jsonl  one row per epoch
//   curves.svg                  loss and accuracy, training and validation, rewritten per epoch
//   last.safetensors            the model after the latest epoch (PyTorch state_dict names + metadata)
//   best.safetensors            the model of the best validation accuracy so far
//   train_state.safetensors     optimiser state, epoch, history: what --resume needs beyond last
//   confusion_*.csv/svg, per_class.csv, report.html   written at the end (see report.h)
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "minidl/core/device.h"
#include "minidl/data/augment.h"
#include "minidl/data/source.h"

namespace minidl::app {

struct TrainConfig {
  // data
  std::string data = "synthetic";  // synthetic | FILE.csv | DIR | fashion-mnist[:DIR] | kind:PATH
  std::int64_t input_size = 64;
  std::int64_t synthetic_size = 6000;  // train + validation images of the built-in faces
  double val_fraction = 0.15;
  std::int64_t train_limit = 0;        // use only the first N training images (0: all)
  bool skip_bad = false;
  // augmentation
  bool aug = true;
  data::AugmentOptions aug_options;
  // model
  std::int64_t width = 64;
  // optimisation
  std::int64_t epochs = 8;
  std::int64_t batch_size = 64;
  std::string optimizer = "sgd";  // sgd | adamw
  double lr = 0.05;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  std::string schedule = "onecycle";  // constant | step | cosine | warmup-cosine | onecycle
  double warmup_epochs = 1;
  double label_smoothing = 0.0;
  std::string class_weights = "none";  // none | balanced
  std::string sampler = "uniform";     // uniform | balanced
  double clip_grad_norm = 0;           // 0: off
  // running
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  int workers = 2;
  std::uint64_t seed = 1;
  std::string out = "runs/latest";
  std::string resume;  // a run folder to continue
  std::int64_t stop_after = 0;  // stop after this many epochs of this invocation (0: run to the end)
  bool quiet = false;
  bool write_report = true;

  nlohmann::json to_json() const;
  static TrainConfig from_json(const nlohmann::json& j);
  // Throws minidl::Error for invalid combinations, naming the flag.
  void validate() const;
};

struct EpochMetrics {
  std::int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0;
  double lr = 0, seconds = 0, images_per_sec = 0;
  nlohmann::json to_json() const;
  static EpochMetrics from_json(const nlohmann::json& j);
};

struct TrainResult {
  std::vector<EpochMetrics> history;
  std::int64_t best_epoch = 0;
  double best_val_acc = 0, best_val_loss = 0;
  bool diverged = false;     // stopped on a NaN/Inf loss
  bool stopped_early = false;  // --stop-after ended it before the last epoch
  std::string out;           // the run folder
};

// "synthetic", "data.csv", "faces/", "fashion-mnist" or "kind:path" -> a data source.
data::DataSourceOptions data_source_from_flag(const std::string& flag);
// auto -> cuda when a GPU is usable, else cpu (saying so).
Device resolve_device(const std::string& flag, bool quiet = false);

// Runs (or, with config.resume, continues) a training run. Throws minidl::Error on bad input.
TrainResult train(TrainConfig config);

}  // namespace minidl::app
