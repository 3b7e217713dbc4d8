// train_resnet: trains the FER model (ResNet-18, 1-channel 7x7 stem, 7 classes) with or without
// augmentation, or both from the same seed (--ablation), writing a run folder (see trainer.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <set>

#include "common/ablation.h"
#include "common/app_main.h"
#include "common/data_parallel.h"
#include "common/trainer.h"
#include "minidl/base/error.h"
#include "minidl/config.h"

using namespace minidl;
using namespace minidl::app;

namespace {

std::string ablation_help() {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "Train twice from the same seed, augmentation off then on, into OUT/aug-off and OUT/aug-on, and write "
                "OUT/ablation.svg, OUT/ablation.md and OUT/report.html. Unless given, --epochs is %lld and, on the "
                "synthetic faces, --synthetic-size %lld, --val-fraction %g, --width %lld and --batch-size %lld (both runs "
                "in under 10 minutes on 2 cores). With --resume OUT: continue an interrupted ablation (or redraw a finished "
                "one's figures)",
                static_cast<long long>(AblationDefaults::epochs), static_cast<long long>(AblationDefaults::synthetic_size),
                AblationDefaults::val_fraction, static_cast<long long>(AblationDefaults::synthetic_width),
                static_cast<long long>(AblationDefaults::synthetic_batch_size));
  return buf;
}

int run(TrainConfig& cfg, const std::string& aug, bool ablation, const std::set<std::string>& given);

}  // namespace

int main(int argc, char** argv) {
  TrainConfig cfg;
  std::string aug = "on";
  bool ablation = false;

  CLI::App app{"Train the FER model (ResNet-18 with a 1-channel 7x7 stem and a 7-class fc) on the built-in "
               "synthetic faces, a FER2013 CSV, an image folder or Fashion-MNIST.\n"
               "With no flags: trains on the synthetic faces with augmentation, into runs/latest.\n"
               "Data parallel: mpirun -np N train_resnet ... (each rank takes --batch-size images per step, one GPU "
               "per rank when there are GPUs; rank 0 writes the run folder; see docs/distributed.md)."};
  app.set_version_flag("--version", MINIDL_VERSION);
  app.add_option("--aug", aug, "Augmentation: random flip, rotation, translation and scale")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_flag("--ablation", ablation, ablation_help());
  app.add_option("--data", cfg.data,
                 "synthetic | FILE.csv (FER2013) | DIR (one folder per class) | fashion-mnist[:DIR] | kind:PATH")
      ->capture_default_str();
  app.add_option("--epochs", cfg.epochs, "Epochs to train")->capture_default_str();
  app.add_option("--batch-size", cfg.batch_size, "Images per step")->capture_default_str();
  app.add_option("--lr", cfg.lr, "Peak learning rate")->capture_default_str();
  app.add_option("--optimizer", cfg.optimizer, "sgd (momentum) or adamw")
      ->check(CLI::IsMember({"sgd", "adamw"}))
      ->capture_default_str();
  app.add_option("--momentum", cfg.momentum, "SGD momentum")->capture_default_str();
  app.add_flag("--nesterov", cfg.nesterov, "Nesterov momentum (SGD)");
  app.add_option("--schedule", cfg.schedule, "Learning-rate schedule: constant, step, cosine, warmup-cosine, onecycle")
      ->check(CLI::IsMember({"constant", "step", "cosine", "warmup-cosine", "onecycle"}))
      ->capture_default_str();
  app.add_option("--warmup-epochs", cfg.warmup_epochs, "Warm-up length for warmup-cosine")->capture_default_str();
  app.add_option("--weight-decay", cfg.weight_decay, "L2 (SGD) or decoupled (AdamW) weight decay")->capture_default_str();
  app.add_option("--label-smoothing", cfg.label_smoothing, "Cross-entropy label smoothing in [0, 1)")->capture_default_str();
  app.add_option("--class-weights", cfg.class_weights, "none, or balanced: weight classes by n / (classes * n_c)")
      ->check(CLI::IsMember({"none", "balanced"}))
      ->capture_default_str();
  app.add_option("--sampler", cfg.sampler, "uniform shuffle, or balanced: draw every class equally often")
      ->check(CLI::IsMember({"uniform", "balanced"}))
      ->capture_default_str();
  app.add_option("--clip-grad-norm", cfg.clip_grad_norm, "Clip the global gradient norm (0: off)")->capture_default_str();
  app.add_flag("--sync-bn", cfg.sync_bn,
               "Under mpirun: batch norm with the statistics of the global batch over all ranks (SyncBatchNorm); "
               "with one process, plain batch norm");
  app.add_option("--width", cfg.width, "Channels of the first stage (64 is ResNet-18; smaller for quick tests)")
      ->capture_default_str();
  app.add_option("--input-size", cfg.input_size, "Images are resized to this square size")->capture_default_str();
  app.add_option("--synthetic-size", cfg.synthetic_size, "Synthetic faces to draw (train + validation)")->capture_default_str();
  app.add_option("--val-fraction", cfg.val_fraction, "Validation share where the data has no split of its own")
      ->capture_default_str();
  app.add_option("--train-limit", cfg.train_limit,
                 "Use only N training images, in the class balance of the whole training set (0: all)")
      ->capture_default_str();
  app.add_flag("--skip-bad", cfg.skip_bad, "Skip malformed CSV rows or unreadable images (and count them) instead of failing");
  app.add_option("--rotation", cfg.aug_options.max_rotation_deg, "Augmentation: max rotation in degrees")->capture_default_str();
  app.add_option("--translate", cfg.aug_options.max_translate, "Augmentation: max shift as a fraction of the size")
      ->capture_default_str();
  app.add_option("--min-scale", cfg.aug_options.min_scale, "Augmentation: smallest scale")->capture_default_str();
  app.add_option("--max-scale", cfg.aug_options.max_scale, "Augmentation: largest scale")->capture_default_str();
  app.add_option("--flip", cfg.aug_options.flip_probability, "Augmentation: probability of a horizontal flip")
      ->capture_default_str();
  app.add_option("--device", cfg.device, "auto (a GPU when one is usable), cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--precision", cfg.precision,
                 "fp32, or bf16: convolutions and linear layers in bf16 with FP32 accumulation; batch norm, "
                 "the loss, the optimiser and the weights stay FP32")
      ->capture_default_str();
  app.add_flag("--cuda-graph", cfg.cuda_graph,
               "On a GPU: capture the training step as a CUDA graph after 2 eager steps and replay it for each batch "
               "(any optimiser and schedule: the optimiser reads its learning rate from device memory)");
  app.add_option("--workers", cfg.workers, "Data-loading threads")->capture_default_str();
  app.add_option("--seed", cfg.seed, "Seed of the data, the initial weights, shuffling and augmentation")->capture_default_str();
  app.add_option("--out", cfg.out, "Run folder")->capture_default_str();
  app.add_option("--resume", cfg.resume,
                 "Continue the run in this folder from its last epoch with its own settings (--epochs may raise its "
                 "length; --stop-after, --device, --workers and --quiet apply)");
  app.add_flag("--force", cfg.force, "Replace the run already in --out (its checkpoints and metrics are removed)");
  app.add_option("--stop-after", cfg.stop_after,
                 "Stop after N epochs of this invocation, as if interrupted (continue with --resume)");
  app.add_flag("--quiet", cfg.quiet, "Print only errors");

  app_start();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  std::set<std::string> given;  // what --resume checks against the run's own settings
  for (const CLI::Option* o : app.get_options())
    if (o->count() > 0) given.insert(o->get_name());
  const int code = run(cfg, aug, ablation, given);
  minidl::dist::finalize();
  return code;
}

namespace {

int run(TrainConfig& cfg, const std::string& aug, bool ablation, const std::set<std::string>& given) {
  try {
    cfg.aug = aug == "on";
    if (!ablation) {
      const TrainResult r = train(cfg, given);
      return app_exit(r.diverged ? 3 : 0);
    }
    std::set<std::string> flags = given;
    if (cfg.resume.empty()) {
      if (!flags.count("--epochs")) cfg.epochs = AblationDefaults::epochs;
      if (!flags.count("--synthetic-size")) cfg.synthetic_size = AblationDefaults::synthetic_size;
      if (cfg.data == "synthetic") {
        if (!flags.count("--val-fraction")) cfg.val_fraction = AblationDefaults::val_fraction;
        if (!flags.count("--width")) cfg.width = AblationDefaults::synthetic_width;
        if (!flags.count("--batch-size")) cfg.batch_size = AblationDefaults::synthetic_batch_size;
      }
    }
    flags.erase("--ablation");
    const AblationResult r = run_ablation(cfg, flags);
    return app_exit(r.diverged ? 3 : 0);
  } catch (const minidl::OutOfMemoryError& e) {
    // In a job of several processes, fail_rank ends all of them (and does not return).
    return fail_rank(std::string(e.what()) + "\nhint: try a smaller --batch-size", 2);
  } catch (const std::exception& e) {
    return fail_rank(e.what(), 1);
  }
}

}  // namespace
