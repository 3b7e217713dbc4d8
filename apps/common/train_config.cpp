#include "common/train_config.h"

#include <cmath>
#include <fstream>

#include "minidl/config.h"
#include "minidl/base/error.h"
#include "minidl/layers/lr_schedule.h"

using nlohmann::json;

namespace minidl::app {

json TrainConfig::to_json() const {
  return {{"data", data},
          {"input_size", input_size},
          {"synthetic_size", synthetic_size},
          {"val_fraction", val_fraction},
          {"train_limit", train_limit},
          {"skip_bad", skip_bad},
          {"aug", aug},
          {"aug_flip", aug_options.flip_probability},
          {"aug_rotation", aug_options.max_rotation_deg},
          {"aug_translate", aug_options.max_translate},
          {"aug_min_scale", aug_options.min_scale},
          {"aug_max_scale", aug_options.max_scale},
          {"width", width},
          {"epochs", epochs},
          {"batch_size", batch_size},
          {"optimizer", optimizer},
          {"lr", lr},
          {"momentum", momentum},
          {"nesterov", nesterov},
          {"weight_decay", weight_decay},
          {"schedule", schedule},
          {"warmup_epochs", warmup_epochs},
          {"label_smoothing", label_smoothing},
          {"class_weights", class_weights},
          {"sampler", sampler},
          {"clip_grad_norm", clip_grad_norm},
          {"device", device},
          {"workers", workers},
          {"seed", seed},
          {"out", out},
          {"version", MINIDL_VERSION}};
}

TrainConfig TrainConfig::from_json(const json& j) {
  TrainConfig c;
  auto get = [&](const char* key, auto& field) {
    if (j.contains(key)) field = j.at(key).get<std::decay_t<decltype(field)>>();
  };
  get("data", c.data);
  get("input_size", c.input_size);
  get("synthetic_size", c.synthetic_size);
  get("val_fraction", c.val_fraction);
  get("train_limit", c.train_limit);
  get("skip_bad", c.skip_bad);
  get("aug", c.aug);
  get("aug_flip", c.aug_options.flip_probability);
  get("aug_rotation", c.aug_options.max_rotation_deg);
  get("aug_translate", c.aug_options.max_translate);
  get("aug_min_scale", c.aug_options.min_scale);
  get("aug_max_scale", c.aug_options.max_scale);
  get("width", c.width);
  get("epochs", c.epochs);
  get("batch_size", c.batch_size);
  get("optimizer", c.optimizer);
  get("lr", c.lr);
  get("momentum", c.momentum);
  get("nesterov", c.nesterov);
  get("weight_decay", c.weight_decay);
  get("schedule", c.schedule);
  get("warmup_epochs", c.warmup_epochs);
  get("label_smoothing", c.label_smoothing);
  get("class_weights", c.class_weights);
  get("sampler", c.sampler);
  get("clip_grad_norm", c.clip_grad_norm);
  get("device", c.device);
  get("workers", c.workers);
  get("seed", c.seed);
  get("out", c.out);
  return c;
}

void TrainConfig::validate() const {
  MINIDL_CHECK(epochs > 0, "--epochs must be positive, got ", epochs);
  MINIDL_CHECK(batch_size > 1, "--batch-size must be at least 2 (batch norm needs more than one value), got ", batch_size);
  MINIDL_CHECK(lr > 0 && std::isfinite(lr), "--lr must be positive, got ", lr);
  MINIDL_CHECK(input_size >= 28, "--input-size must be at least 28, got ", input_size);
  MINIDL_CHECK(optimizer == "sgd" || optimizer == "adamw", "--optimizer must be sgd or adamw, got '", optimizer, "'");
  MINIDL_CHECK(class_weights == "none" || class_weights == "balanced", "--class-weights must be none or balanced, got '",
               class_weights, "'");
  MINIDL_CHECK(sampler == "uniform" || sampler == "balanced", "--sampler must be uniform or balanced, got '", sampler, "'");
  MINIDL_CHECK(label_smoothing >= 0 && label_smoothing < 1, "--label-smoothing must be in [0, 1), got ", label_smoothing);
  MINIDL_CHECK(weight_decay >= 0, "--weight-decay must be non-negative");
  MINIDL_CHECK(width >= 1, "--width must be positive");
  MINIDL_CHECK(workers >= 0, "--workers must be non-negative");
  MINIDL_CHECK(val_fraction > 0 && val_fraction < 1, "--val-fraction must be in (0, 1)");
  LrSchedule::parse(schedule);
  aug_options.validate();
}

namespace {

TrainConfig load_run_config(const std::string& path, const std::string& what) {
  std::ifstream f(path);
  MINIDL_CHECK(f.good(), what, ": no config.json there (is it a run folder?)");
  json j;
  try {
    f >> j;
  } catch (const std::exception& e) {
    throw Error(detail::str(path, ": not valid JSON (", e.what(), ")"));
  }
  return TrainConfig::from_json(j);
}

}  // namespace

TrainConfig resolve_config(const TrainConfig& flags) {
  if (flags.resume.empty()) return flags;
  // Continue a run: its own config, possibly with more epochs.
  TrainConfig cfg = load_run_config(flags.resume + "/config.json", "--resume " + flags.resume);
  if (flags.epochs > 0) cfg.epochs = std::max(cfg.epochs, flags.epochs);  // 0: not given
  cfg.quiet = flags.quiet;
  cfg.stop_after = flags.stop_after;
  cfg.resume = flags.resume;
  cfg.out = flags.resume;
  return cfg;
}

}  // namespace minidl::app
