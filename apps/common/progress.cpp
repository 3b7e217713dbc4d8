#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace minidl::app {

std::string fmt_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, static_cast<int>(s) / 60 % 60);
  return buf;
}

TrainProgress::TrainProgress(const TrainConfig& config, std::int64_t steps_per_epoch)
    : config_(config), steps_per_epoch_(steps_per_epoch), tty_(isatty(fileno(stdout)) != 0) {}

void TrainProgress::start(const RunSummary& run) {
  const TrainConfig& cfg = config_;
  if (!cfg.quiet) {
    std::printf("data: %s\n  %s\n  train %lld images, validation %lld images, %lld classes\n", run.data_description.c_str(),
                run.split_note.c_str(), (long long)run.train_images, (long long)run.val_images,
                (long long)run.class_names.size());
    std::printf("  class counts (train):");
    for (std::size_t c = 0; c < run.class_names.size(); ++c)
      std::printf(" %s %lld", run.class_names[c].c_str(), (long long)run.class_counts[c]);
    std::printf("\nmodel: resnet18 width %lld, %lld parameters, input 1x%lldx%lld, device %s\n", (long long)cfg.width,
                (long long)run.parameters, (long long)cfg.input_size, (long long)cfg.input_size, run.device.str().c_str());
    std::printf("training: %lld epochs x %lld steps of %lld, %s lr %g (%s), augmentation %s\n", (long long)cfg.epochs,
                (long long)steps_per_epoch_, (long long)(cfg.batch_size * run.ranks), cfg.optimizer.c_str(), cfg.lr,
                cfg.schedule.c_str(), cfg.aug ? cfg.aug_options.str().c_str() : "off");
    if (run.ranks > 1)
      std::printf("data parallel: %d ranks x --batch-size %lld = global batch %lld per step; lr %g as given (not "
                  "scaled with the ranks); batch norm %s\n",
                  run.ranks, (long long)cfg.batch_size, (long long)(cfg.batch_size * run.ranks), cfg.lr,
                  run.sync_bn_layers ? ("synchronised over the ranks (--sync-bn, " + std::to_string(run.sync_bn_layers) +
                                        " layers)").c_str()
                                     : "per rank (each rank's own batch; --sync-bn for the global batch's)");
    std::fflush(stdout);
  }
  run_start_ = std::chrono::steady_clock::now();
}

void TrainProgress::resumed(const std::string& dir, std::int64_t epochs_done) const {
  if (!config_.quiet)
    std::printf("resuming %s after epoch %lld of %lld\n", dir.c_str(), (long long)epochs_done, (long long)config_.epochs);
}

void TrainProgress::start_epoch() { epoch_start_ = std::chrono::steady_clock::now(); }

void TrainProgress::step(std::int64_t epoch, const EpochTally& t, double lr) {
  ++steps_this_run_;
  if (config_.quiet || !(tty_ || t.steps % 10 == 0 || t.steps == steps_per_epoch_)) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const double total = std::chrono::duration<double>(now - run_start_).count();
  const double per_step = total / static_cast<double>(steps_this_run_);
  const double eta = per_step * static_cast<double>((config_.epochs - epoch) * steps_per_epoch_ - t.steps);
  // With several ranks, the global batch: the figures are those of every rank's images.
  const std::string batch = config_.world_size > 1 ? " batch " + std::to_string(config_.batch_size * config_.world_size) +
                                                         " (" + std::to_string(config_.world_size) + "x" +
                                                         std::to_string(config_.batch_size) + ")"
                                                   : "";
  std::printf("%sepoch %lld/%lld step %lld/%lld%s loss %.4f acc %.3f lr %.4g %.0f img/s ETA %s%s", tty_ ? "\r" : "",
              (long long)epoch + 1, (long long)config_.epochs, (long long)t.steps, (long long)steps_per_epoch_,
              batch.c_str(), t.loss(), t.accuracy(), lr, static_cast<double>(t.seen) / elapsed, fmt_duration(eta).c_str(),
              tty_ ? "   " : "\n");
  std::fflush(stdout);
}

void TrainProgress::end_epoch(const EpochMetrics& m, bool best) const {
  if (config_.quiet) return;
  std::printf("%sepoch %lld/%lld: train loss %.4f acc %.3f | val loss %.4f acc %.3f | %.0f img/s, %s%s\n",
              tty_ ? "\r" : "", (long long)m.epoch, (long long)config_.epochs, m.train_loss, m.train_acc, m.val_loss,
              m.val_acc, m.images_per_sec, fmt_duration(m.seconds).c_str(), best ? " (best)" : "");
  std::fflush(stdout);
}

void TrainProgress::diverged(const std::string& what, const std::string& last_good) const {
  std::fprintf(stderr,
               "\nerror: %s. Training stopped; the last good checkpoint (%s) is kept. Try a lower --lr or "
               "--clip-grad-norm.\n",
               what.c_str(), last_good.c_str());
}

void TrainProgress::stopped_early(const std::string& dir) const {
  if (!config_.quiet)
    std::printf("stopping after %lld epochs as asked; continue with --resume %s\n", (long long)config_.stop_after,
                dir.c_str());
}

void TrainProgress::finished(std::int64_t best_epoch, const EvalResult& val, const std::string& dir) const {
  if (config_.quiet) return;
  std::printf("best epoch %lld: validation accuracy %.4f, macro-F1 %.4f, loss %.4f\n", (long long)best_epoch,
              val.accuracy(), val.confusion.macro_f1(), val.loss);
  for (const auto& p : val.confusion.most_confused(3)) std::printf("  %s\n", val.confusion.describe(p).c_str());
  std::printf("wrote %s/{metrics.csv, curves.svg, best.safetensors, confusion_matrix.svg, report.html}\n", dir.c_str());
}

}  // namespace minidl::app
