#include "common/train_config.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <type_traits>

#include "common/escape.h"
#include "common/model_info.h"
#include "minidl/config.h"
#include "minidl/base/error.h"
#include "minidl/core/file_io.h"
#include "minidl/core/precision.h"
#include "minidl/layers/lr_schedule.h"

using nlohmann::json;

namespace minidl::app {

json TrainConfig::to_json() const {
  return {{"data", bytes_to_json(data)},
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
          {"precision", precision},
          {"sync_bn", sync_bn},
          {"world_size", world_size},
          {"device", device},
          {"workers", workers},
          {"seed", seed},
          {"out", bytes_to_json(out)},
          {"version", MINIDL_VERSION}};
}

TrainConfig TrainConfig::from_json(const json& j) {
  MINIDL_CHECK(j.is_object(), "expected a JSON object of settings, got ", j.type_name());
  TrainConfig c;
  auto get = [&](const char* key, auto& field) {
    if (!j.contains(key)) return;
    using T = std::decay_t<decltype(field)>;
    const json& v = j.at(key);
    const bool fits = std::is_same_v<T, bool>          ? v.is_boolean()
                      : std::is_same_v<T, std::string> ? v.is_string()
                      : std::is_integral_v<T>          ? v.is_number_integer()
                                                       : v.is_number();
    MINIDL_CHECK(fits, "key '", key, "': expected ",
                 std::is_same_v<T, bool> ? "true or false" : std::is_same_v<T, std::string> ? "a string"
                                                         : std::is_integral_v<T>           ? "an integer"
                                                                                           : "a number",
                 ", got ", v.dump());
    field = v.get<T>();
  };
  if (j.contains("data")) c.data = bytes_from_json(j.at("data"), "key 'data'");
  if (j.contains("out")) c.out = bytes_from_json(j.at("out"), "key 'out'");
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
  get("precision", c.precision);
  get("sync_bn", c.sync_bn);
  get("world_size", c.world_size);
  get("device", c.device);
  get("workers", c.workers);
  get("seed", c.seed);
  return c;
}

void TrainConfig::validate() const {
  // Each value within what makes sense, so that a typo fails here, naming its flag, and not as an
  // overflow an hour later.
  auto in = [](double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; };
  MINIDL_CHECK(epochs >= 1 && epochs <= kMaxEpochs, "--epochs must be from 1 to ", kMaxEpochs, ", got ", epochs);
  MINIDL_CHECK(batch_size >= 2 && batch_size <= 65536,
               "--batch-size must be from 2 (batch norm needs more than one value) to 65536, got ", batch_size);
  MINIDL_CHECK(lr > 0 && std::isfinite(lr), "--lr must be positive, got ", lr);
  MINIDL_CHECK(in(momentum, 0, 0.999999), "--momentum must be in [0, 1), got ", momentum);
  MINIDL_CHECK(in(weight_decay, 0, 1e6), "--weight-decay must be non-negative, got ", weight_decay);
  MINIDL_CHECK(in(warmup_epochs, 0, static_cast<double>(epochs)), "--warmup-epochs must be from 0 to --epochs (",
               epochs, "), got ", warmup_epochs);
  MINIDL_CHECK(in(clip_grad_norm, 0, 1e30), "--clip-grad-norm must be a positive norm, or 0 for no clipping, got ",
               clip_grad_norm);
  MINIDL_CHECK(input_size >= ModelInfo::kMinInputSize && input_size <= ModelInfo::kMaxInputSize,
               "--input-size must be from ", ModelInfo::kMinInputSize, " to ", ModelInfo::kMaxInputSize, ", got ",
               input_size);
  MINIDL_CHECK(optimizer == "sgd" || optimizer == "adamw", "--optimizer must be sgd or adamw, got '", optimizer, "'");
  MINIDL_CHECK(class_weights == "none" || class_weights == "balanced", "--class-weights must be none or balanced, got '",
               class_weights, "'");
  MINIDL_CHECK(sampler == "uniform" || sampler == "balanced", "--sampler must be uniform or balanced, got '", sampler, "'");
  MINIDL_CHECK(label_smoothing >= 0 && label_smoothing < 1, "--label-smoothing must be in [0, 1), got ", label_smoothing);
  MINIDL_CHECK(width >= 1 && width <= ModelInfo::kMaxWidth, "--width must be from 1 to ", ModelInfo::kMaxWidth, ", got ",
               width);
  MINIDL_CHECK(workers >= 0 && workers <= 256, "--workers must be from 0 to 256, got ", workers);
  MINIDL_CHECK(in(val_fraction, 0, 1) && val_fraction > 0 && val_fraction < 1, "--val-fraction must be in (0, 1), got ",
               val_fraction);
  MINIDL_CHECK(synthetic_size >= 2 && synthetic_size <= 100'000'000, "--synthetic-size must be from 2 to 100000000, got ",
               synthetic_size);
  MINIDL_CHECK(train_limit >= 0, "--train-limit must be a number of images, or 0 for all, got ", train_limit);
  MINIDL_CHECK(stop_after >= 0, "--stop-after must be a number of epochs, or 0 to run to the end, got ", stop_after);
  MINIDL_CHECK(in(aug_options.flip_probability, 0, 1), "--flip must be a probability in [0, 1], got ",
               aug_options.flip_probability);
  MINIDL_CHECK(in(aug_options.max_rotation_deg, 0, 180), "--rotation must be from 0 to 180 degrees, got ",
               aug_options.max_rotation_deg);
  MINIDL_CHECK(in(aug_options.max_translate, 0, 1), "--translate must be a fraction in [0, 1], got ",
               aug_options.max_translate);
  MINIDL_CHECK(in(aug_options.min_scale, 0.01, 100) && in(aug_options.max_scale, aug_options.min_scale, 100),
               "--min-scale and --max-scale must satisfy 0.01 <= min <= max <= 100, got ", aug_options.min_scale, " and ",
               aug_options.max_scale);
  LrSchedule::parse(schedule);
  parse_precision(precision, "--precision");
  aug_options.validate();
}

TrainConfig load_run_config(const std::string& path) {
  json j;
  try {
    j = json::parse(read_regular_file(path));
  } catch (const json::exception& e) {
    throw Error(detail::str(path, ": not valid JSON (", e.what(), ")"));
  }
  try {
    return TrainConfig::from_json(j);
  } catch (const Error& e) {
    throw Error(detail::str(path, ": ", e.what()));
  }
}

namespace {

// What a flag sets in config.json, for the flags whose key is not the flag's own name.
std::string config_key(const std::string& flag) {
  static const std::map<std::string, std::string> renamed = {{"--rotation", "aug_rotation"},
                                                             {"--translate", "aug_translate"},
                                                             {"--min-scale", "aug_min_scale"},
                                                             {"--max-scale", "aug_max_scale"},
                                                             {"--flip", "aug_flip"}};
  if (auto it = renamed.find(flag); it != renamed.end()) return it->second;
  std::string key = flag.rfind("--", 0) == 0 ? flag.substr(2) : flag;
  for (char& c : key)
    if (c == '-') c = '_';
  return key;
}

}  // namespace

TrainConfig read_run_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  std::error_code ec;
  MINIDL_CHECK(std::filesystem::exists(path, ec), dir, ": no config.json there (is it a run folder?)");
  return load_run_config(path);
}

TrainConfig resolve_config(const TrainConfig& flags, const std::set<std::string>& given) {
  if (flags.resume.empty()) return flags;
  MINIDL_CHECK(!flags.force, "--force starts a new run over an old one and --resume continues one: give one of them");
  // Continue a run: its own config, with the few settings a resume can honour from the flags.
  const std::string path = flags.resume + "/config.json";
  std::error_code ec;
  MINIDL_CHECK(std::filesystem::exists(path, ec), "--resume ", flags.resume, ": no config.json there (is it a run folder?)");
  TrainConfig cfg = load_run_config(path);
  const json run = cfg.to_json(), asked = flags.to_json();
  static const std::set<std::string> honoured = {"--resume", "--epochs", "--stop-after", "--quiet", "--device", "--workers",
                                                  "--cuda-graph"};
  for (const std::string& flag : given) {
    if (honoured.count(flag)) continue;
    const std::string key = config_key(flag);
    if (run.contains(key) && asked.contains(key) && run.at(key) == asked.at(key)) continue;  // the same: harmless
    MINIDL_FAIL("--resume ", flags.resume, " continues that run with its own settings, and cannot change ", flag,
                run.contains(key) ? detail::str(" (the run has ", run.at(key).dump(), " in ", path, ")") : "",
                "; start a new run with --out to change it");
  }
  if (given.count("--epochs")) {
    MINIDL_CHECK(flags.epochs >= cfg.epochs, "--epochs ", flags.epochs, ": the run in ", flags.resume, " is ", cfg.epochs,
                 " epochs long; --resume can lengthen a run, not shorten it (--stop-after stops early)");
    cfg.epochs = flags.epochs;
  }
  if (given.count("--device")) cfg.device = flags.device;
  if (given.count("--workers")) cfg.workers = flags.workers;
  cfg.quiet = flags.quiet;
  cfg.cuda_graph = flags.cuda_graph;
  cfg.stop_after = flags.stop_after;
  cfg.resume = flags.resume;
  cfg.out = flags.resume;
  return cfg;
}

}  // namespace minidl::app
