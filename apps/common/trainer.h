// The training run behind train_resnet: data, model, optimiser and schedule from a config; a
// loop with progress lines, a validation pass per epoch, metrics files, curves, checkpoints
// (written atomically), a NaN guard, and exact resume from the last checkpoint. What the run
// folder holds is in run_folder.h, the settings in train_config.h, the printing in progress.h.
//
// A run is a Trainer taken through its steps:
//   setup()                 data, model, loss, optimiser, loader, schedule; resume state
//   train_epoch(e)          one pass over the training set, one train_step() per batch
//   end_epoch(e, tally)     validation, history, checkpoints, metrics, curves
//   finish()                the best model's evaluation files and report.html
// train() below is that loop.
//
// Where the next features plug in:
// - Data-parallel training (mpirun; docs/distributed.md): ParallelContext says which rank this
//   process is; only the main rank writes the run folder and prints. A DistributedDataParallel
//   wraps the model: rank 0's weights to all at the start, gradients averaged during backward.
//   The loader shards each epoch (DistributedSampler), each step's loss and accuracy are summed
//   over ranks (so every rank's EpochTally is the global one and all agree on a non-finite loss),
//   validation runs on a shard per rank and its figures are summed.
// - The precision policy (--precision fp32|bf16, core/precision.h): the forward pass and the
//   loss are computed in one place (forward_loss), under an AutocastGuard, as is validation;
//   the optimiser and the checkpoints stay on the FP32 master weights.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/app_flags.h"
#include "common/data_parallel.h"
#include "common/evaluation.h"
#include "common/model_info.h"
#include "common/progress.h"
#include "common/run_folder.h"
#include "common/train_config.h"
#include "minidl/core/precision.h"
#include "minidl/data/dataloader.h"
#include "minidl/data/source.h"
#include "minidl/layers/distributed_data_parallel.h"
#include "minidl/layers/graphed_step.h"
#include "minidl/layers/loss.h"
#include "minidl/layers/lr_schedule.h"
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"

namespace minidl::app {

struct TrainResult {
  std::vector<EpochMetrics> history;
  std::int64_t best_epoch = 0;
  double best_val_acc = 0, best_val_loss = 0;
  bool diverged = false;     // stopped on a non-finite loss, weight or statistic
  bool stopped_early = false;  // --stop-after ended it before the last epoch
  std::string out;           // the run folder
};

struct TrainerHooks {
  // Called with the parameters after each backward pass, before clipping and the step.
  std::function<void(const std::vector<Tensor>& parameters)> after_backward;
};

class Trainer {
 public:
  explicit Trainer(TrainConfig config, ParallelContext parallel = {}, TrainerHooks hooks = {});

  // Everything before the first epoch. Throws minidl::Error (or DataError) on bad input.
  void setup();
  std::int64_t first_epoch() const { return start_epoch_; }
  std::int64_t epochs() const { return cfg_.epochs; }
  // Whether --stop-after ends the run before `epoch`; says so and marks the result.
  bool stop_before(std::int64_t epoch);
  // One pass over the training set. A non-finite loss stops it: the result is marked diverged.
  EpochTally train_epoch(std::int64_t epoch);
  // Validation, then checkpoints, metrics and curves; unless a weight, a batch-norm statistic or
  // the validation loss is not finite: then nothing is saved and the result is marked diverged.
  void end_epoch(std::int64_t epoch, const EpochTally& tally);
  void finish();
  const TrainResult& result() const { return result_; }

 private:
  void setup_data();
  void setup_model();
  void setup_loader();  // and the schedule, which counts its steps
  void restore();
  void setup_parallel();  // after restore: every rank then starts from rank 0's model
  void announce();
  Tensor forward_loss(const Tensor& x, const Tensor& y, Tensor& logits);
  // One optimiser step on a batch; false when the loss is not finite (nothing is updated; with
  // --cuda-graph the whole step is one graph, so the update of that step has been made).
  bool train_step(std::int64_t epoch, const data::Batch& batch, EpochTally& tally);
  // The step after the loss: backward, gradient hooks, clipping, the optimiser.
  void finish_step(const Tensor& loss);
  // --cuda-graph: the step of a full batch as a graph, made at the first one.
  Tensor graphed_step(const Tensor& x, const Tensor& y, Tensor& logits);
  // The figures of a step done; false when its loss was not finite (said, and the run stops).
  bool tally_step(std::int64_t epoch, const data::Batch& batch, const Tensor& loss, const Tensor& logits, double lr,
                  EpochTally& tally);
  // One step's loss sum, correct predictions, images and ranks with a non-finite loss.
  struct StepSums {
    double loss_sum, correct, seen, non_finite;
  };
  StepSums sum_over_ranks(const StepSums& s) const;
  std::map<std::string, std::string> checkpoint_metadata(const EpochMetrics& m) const;
  std::string curves_title() const;
  std::string last_good() const;  // the checkpoint a divergence leaves as the run's last

  TrainConfig cfg_;
  ParallelContext parallel_;
  TrainerHooks hooks_;
  Device device_;
  Precision precision_ = Precision::Float32;
  RunFolder run_;  // written by the main rank only
  data::DataSplits splits_;
  data::DatasetPtr train_set_, val_set_;
  ModelInfo info_;
  std::shared_ptr<ResNet> model_;
  std::unique_ptr<CrossEntropyLoss> loss_fn_;
  std::unique_ptr<Optimizer> opt_;
  std::unique_ptr<data::DataLoader> loader_;
  std::unique_ptr<GraphedStep> graphed_;  // --cuda-graph
  Tensor graphed_logits_;                 // the graphed step's logits, rewritten by each replay
  LrSchedule sched_;
  std::int64_t steps_per_epoch_ = 0, start_epoch_ = 0, global_step_ = 0;
  std::unique_ptr<DistributedDataParallel> ddp_;  // when mpirun started this process
  int sync_bn_layers_ = 0;
  data::DatasetPtr val_shard_;                      // this rank's part of the validation set
  std::unique_ptr<TrainProgress> progress_;
  EvalOptions eval_options_;
  TrainResult result_;
};

// Runs (or, with config.resume, continues) a training run; `given` names the flags given on the
// command line (see resolve_config). Throws minidl::Error on bad input.
TrainResult train(const TrainConfig& flags, const std::set<std::string>& given = {});

}  // namespace minidl::app
