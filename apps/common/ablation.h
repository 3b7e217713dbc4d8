// The augmentation ablation (train_resnet --ablation): the same training run without and with
// augmentation, from the same seed, and what it shows. An ablation folder holds
//   aug-off/, aug-on/   two ordinary run folders (run_folder.h)
//   ablation.svg        validation loss and accuracy of both runs (training loss too), each
//                       run's best epochs marked, and the epoch where the run without
//                       augmentation starts to overfit
//   ablation.md         the two runs in a table, and what they show in words
//   report.html         both runs side by side, with the augmentation's draws for one image
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/run_folder.h"
#include "common/train_config.h"

namespace minidl::app {

// The ablation's own defaults, used where the flags leave them (docs/ablation.md): a training
// set small enough, and training long enough, that the run without augmentation overfits, and
// both runs together within 10 minutes on 2 CPU cores. On the built-in faces the model is
// ResNet-18 at half width: at full width the sizes where the effect shows take about twice the
// budget, and smaller ones left the augmented run underfit (measured: docs/ablation.md).
struct AblationDefaults {
  static constexpr std::int64_t epochs = 30;
  static constexpr std::int64_t synthetic_size = 2000;  // 1500 training and 500 validation faces
  static constexpr double val_fraction = 0.25;
  static constexpr std::int64_t synthetic_width = 32;   // 2.8 M parameters instead of 11.2 M
  static constexpr std::int64_t synthetic_batch_size = 32;  // twice the steps in the same time
};

// What one run's curves show.
struct CurveSummary {
  std::int64_t best_loss_epoch = 0, best_acc_epoch = 0;  // 1-based; the first epoch on ties
  double best_val_loss = 0, best_val_acc = 0;
  double final_train_loss = 0, final_val_loss = 0;
  // Training loss at the epoch of the best validation loss, and at the end.
  double train_loss_at_best = 0;
  // How far the validation loss ends above its minimum (0 when the minimum is the last epoch).
  double val_loss_rise = 0;
  // Overfitting: the validation loss ends above its minimum by at least 10% of it (and 0.02)
  // while the training loss kept falling after that minimum. Its onset is the epoch of the
  // minimum (0 when the run does not overfit).
  bool overfits = false;
  std::int64_t overfit_onset = 0;
};

CurveSummary summarize_curves(const std::vector<EpochMetrics>& history);

// ablation.svg, ablation.md and report.html in `dir`, from the two runs' histories and folders
// (their curves.svg, confusion_matrix.svg, summary.json and augmentation.png are inlined when
// present). Returns the text of ablation.md.
std::string write_ablation(const std::string& dir, const std::vector<EpochMetrics>& off,
                           const std::vector<EpochMetrics>& on);

struct AblationResult {
  bool diverged = false, stopped_early = false;
  std::string markdown;  // ablation.md, when both runs finished
};

// Trains OUT/aug-off then OUT/aug-on from `flags` (aug and out set per run) and writes the
// ablation's files. With flags.resume = an ablation folder: continues each run from its last
// saved epoch, or starts it with aug-off's settings when it saved none, then writes the files
// (so resuming a finished ablation rewrites its figures and report). `given` are the flags on
// the command line (as "--epochs"), which a resumed run checks as resolve_config says.
AblationResult run_ablation(const TrainConfig& flags, const std::set<std::string>& given = {});

}  // namespace minidl::app
