// The folder a training run writes, and the only code that writes it:
//   config.json                 every setting, the seed and the version
//   metrics.csv, metrics.jsonl  one row per epoch
//   curves.svg                  loss and accuracy, training and validation, rewritten per epoch
//   last.safetensors            the model after the latest epoch (PyTorch state_dict names + metadata)
//   best.safetensors            the model of the best validation accuracy so far
//   train_state.safetensors     optimiser state, epoch, history: what --resume needs beyond last
//   confusion_*.csv/svg, per_class.csv, report.html   written at the end (see report.h)
// Every file is replaced atomically (temporary file, then rename), so a run killed at any moment
// leaves each file whole: the old one or the new one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/train_config.h"
#include "minidl/layers/module.h"
#include "minidl/layers/optim.h"

namespace minidl::app {

struct EpochMetrics {
  std::int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0;
  double lr = 0, seconds = 0, images_per_sec = 0;
  nlohmann::json to_json() const;
  static EpochMetrics from_json(const nlohmann::json& j);
};

// Where a run stands after an epoch, beyond its weights.
struct TrainState {
  std::int64_t epochs_done = 0, global_step = 0;
  std::vector<EpochMetrics> history;
  // The training data it was trained on, to refuse a resume on other data (absent in the
  // states of older versions: train_images -1, no names).
  std::vector<std::string> class_names;
  std::int64_t train_images = -1;
};

class RunFolder {
 public:
  explicit RunFolder(std::string dir) : dir_(std::move(dir)) {}
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;

  // Before the first write: creates the folder, locks it for this process's lifetime (another
  // run writing to it makes this throw), and clears the temporary files of runs killed while
  // writing. A new run (not resuming) into a folder that holds a run (checkpoints or metrics)
  // throws unless `replace` (--force), which removes the old run's files first, so that nothing
  // of it mixes with the new one. `flag` names the folder in errors ("--out", "--resume").
  void open_for_writing(const std::string& flag, bool resuming, bool replace, bool quiet);

  const std::string& path() const { return dir_; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

  void write_config(const TrainConfig& config) const;
  // metrics.csv, metrics.jsonl and curves.svg (titled `title`) from the whole history.
  void write_history(const std::vector<EpochMetrics>& history, const std::string& title) const;
  // name.safetensors: the model's state_dict with the metadata.
  void save_model(const std::string& name, const Module& model, const std::map<std::string, std::string>& metadata) const;

  // train_state.safetensors: model, optimiser, the default generator's state, epoch, history
  // and data in one atomic file. `last` alone would not do: a crash between two files could
  // pair weights and optimiser state of different epochs.
  void save_train_state(const Module& model, const Optimizer& opt, const TrainState& state) const;
  bool has_train_state() const;
  // Loads what save_train_state wrote into model, opt and the default generator.
  TrainState load_train_state(Module& model, Optimizer& opt) const;

 private:
  std::string dir_;
  int lock_fd_ = -1;
};

}  // namespace minidl::app
