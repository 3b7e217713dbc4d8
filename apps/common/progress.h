// What a training run prints: a summary of the data, model and schedule at the start, a
// progress line while an epoch runs (rewritten in place on a terminal, every 10 steps in a
// log), one line per finished epoch, and where to find the results.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/evaluation.h"
#include "common/run_folder.h"
#include "common/train_config.h"
#include "minidl/core/device.h"

namespace minidl::app {

// "42s", "3m07s", "2h05m".
std::string fmt_duration(double seconds);

// Running sums of one epoch's training steps.
struct EpochTally {
  double loss_sum = 0;  // sum of per-image losses
  std::int64_t seen = 0, correct = 0, steps = 0;
  double seconds = 0;   // wall time of the steps
  double loss() const { return loss_sum / static_cast<double>(seen); }
  double accuracy() const { return static_cast<double>(correct) / static_cast<double>(seen); }
};

class TrainProgress {
 public:
  // quiet: print nothing (errors go to stderr elsewhere).
  TrainProgress(const TrainConfig& config, std::int64_t steps_per_epoch);

  struct RunSummary {
    std::string data_description, split_note;
    std::int64_t train_images = 0, val_images = 0;
    std::vector<std::string> class_names;
    std::vector<std::int64_t> class_counts;  // training images per class
    std::int64_t parameters = 0;
    Device device;
    int ranks = 1;           // processes of a data-parallel job
    int sync_bn_layers = 0;  // batch-norm layers synchronised over the ranks
  };
  // Prints the summary and starts the clock of the ETA.
  void start(const RunSummary& run);
  void resumed(const std::string& dir, std::int64_t epochs_done) const;

  void start_epoch();
  // After each training step; prints on a terminal every step, else every 10 and the last.
  void step(std::int64_t epoch, const EpochTally& tally, double lr);
  void end_epoch(const EpochMetrics& m, bool best) const;

  // To stderr, quiet or not.
  // "error: <what>. Training stopped; the last good checkpoint (<last_good>) is kept..."
  void diverged(const std::string& what, const std::string& last_good) const;
  void stopped_early(const std::string& dir) const;
  // The best model's validation results and the files written.
  void finished(std::int64_t best_epoch, const EvalResult& val, const std::string& dir) const;

 private:
  const TrainConfig& config_;
  std::int64_t steps_per_epoch_;
  bool tty_;
  std::chrono::steady_clock::time_point run_start_, epoch_start_;
  std::int64_t steps_this_run_ = 0;
};

}  // namespace minidl::app
