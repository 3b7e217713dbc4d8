#include "common/trainer.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/evaluation.h"
#include "common/model_info.h"
#include "common/report.h"
#include "common/svg.h"
#include "minidl/config.h"
#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/core/safetensors.h"
#include "minidl/data/dataloader.h"
#include "minidl/data/split.h"
#include "minidl/layers/checkpoint.h"
#include "minidl/layers/loss.h"
#include "minidl/layers/lr_schedule.h"
#include "minidl/layers/optim.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace minidl::app {

// ----- configuration -----

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

json EpochMetrics::to_json() const {
  return {{"epoch", epoch},       {"train_loss", train_loss}, {"train_acc", train_acc}, {"val_loss", val_loss},
          {"val_acc", val_acc},   {"lr", lr},                 {"seconds", seconds},     {"images_per_sec", images_per_sec}};
}

EpochMetrics EpochMetrics::from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch");
  m.train_loss = j.at("train_loss");
  m.train_acc = j.at("train_acc");
  m.val_loss = j.at("val_loss");
  m.val_acc = j.at("val_acc");
  m.lr = j.at("lr");
  m.seconds = j.at("seconds");
  m.images_per_sec = j.at("images_per_sec");
  return m;
}

data::DataSourceOptions data_source_from_flag(const std::string& flag) {
  const bool explicit_kind = flag.rfind("synthetic", 0) == 0 || flag.rfind("fer2013:", 0) == 0 ||
                             flag.rfind("folder:", 0) == 0 || flag.rfind("fashion-mnist", 0) == 0;
  if (explicit_kind) return data::DataSourceOptions::parse(flag);
  data::DataSourceOptions o;
  if (fs::is_directory(flag)) {
    o.kind = "folder";
  } else if (flag.size() > 4 && flag.substr(flag.size() - 4) == ".csv") {
    o.kind = "fer2013";
  } else {
    MINIDL_FAIL("--data '", flag,
                "': expected synthetic, a FER2013 .csv file, an image folder, fashion-mnist[:DIR], or kind:PATH",
                fs::exists(flag) ? "" : " (no such file or folder)");
  }
  o.path = flag;
  return o;
}

Device resolve_device(const std::string& flag, bool quiet) {
  if (flag == "auto") {
    if (cuda_available()) return Device::cuda(0);
    if (!quiet)
      std::printf("device: cpu (%s)\n", cuda_built() ? "this build has CUDA, but no GPU is visible" : "CPU-only build");
    return Device::cpu();
  }
  const Device d = Device::parse(flag);
  if (d.is_cuda()) {
    MINIDL_CHECK(cuda_built(), "--device ", flag, ": this build of minidl has no CUDA backend (rebuild with -DMINIDL_CUDA=ON)");
    MINIDL_CHECK(d.index < cuda_device_count(), "--device ", flag, ": no such GPU (", cuda_device_count(), " visible)");
  }
  return d;
}

// ----- the run -----

namespace {

std::string fmt_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, static_cast<int>(s) / 60 % 60);
  return buf;
}

void write_metrics(const std::string& dir, const std::vector<EpochMetrics>& history) {
  std::string csv = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,images_per_sec\n", jsonl;
  char buf[256];
  for (const auto& m : history) {
    std::snprintf(buf, sizeof buf, "%lld,%.6f,%.6f,%.6f,%.6f,%.6g,%.2f,%.1f\n", static_cast<long long>(m.epoch),
                  m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.lr, m.seconds, m.images_per_sec);
    csv += buf;
    jsonl += m.to_json().dump() + "\n";
  }
  write_file_atomic(dir + "/metrics.csv", csv);
  write_file_atomic(dir + "/metrics.jsonl", jsonl);
}

// Training state for --resume in one atomic file: model, optimiser, history. `last` alone
// would not do: a crash between two files could pair weights and optimiser state of
// different epochs.
void save_train_state(const std::string& path, const Module& model, const Optimizer& opt, std::int64_t epochs_done,
                      std::int64_t global_step, const std::vector<EpochMetrics>& history) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [n, t] : model.state_dict()) tensors["model." + n] = t;
  for (const auto& [n, t] : opt.state_dict()) tensors["optimizer." + n] = t;
  // The default generator's state (as int64 bit patterns), so that anything drawn from it
  // after a resume is what an uninterrupted run would have drawn.
  const Generator::State rng = default_generator().state();
  Tensor rng_t = Tensor::empty({static_cast<std::int64_t>(rng.size())}, DType::Int64);
  for (std::size_t i = 0; i < rng.size(); ++i) rng_t.data<std::int64_t>()[i] = static_cast<std::int64_t>(rng[i]);
  tensors["rng"] = rng_t;
  json h = json::array();
  for (const auto& m : history) h.push_back(m.to_json());
  save_safetensors(path, tensors,
                   {{"epochs_done", std::to_string(epochs_done)},
                    {"global_step", std::to_string(global_step)},
                    {"history", h.dump()}});
}

struct ResumeState {
  std::int64_t epochs_done = 0, global_step = 0;
  std::vector<EpochMetrics> history;
};

ResumeState load_train_state(const std::string& path, Module& model, Optimizer& opt) {
  TensorFile f = load_safetensors(path);
  std::map<std::string, Tensor> m, o;
  for (auto& [n, t] : f.tensors) {
    if (n.rfind("model.", 0) == 0) m[n.substr(6)] = t;
    else if (n.rfind("optimizer.", 0) == 0) o[n.substr(10)] = t;
  }
  model.load_state_dict(m);
  opt.load_state_dict(o);
  if (auto it = f.tensors.find("rng"); it != f.tensors.end() && it->second.numel() == 6) {
    Generator::State rng;
    for (std::size_t i = 0; i < rng.size(); ++i) rng[i] = static_cast<std::uint64_t>(it->second.data<std::int64_t>()[i]);
    default_generator().set_state(rng);
  }
  ResumeState r;
  try {
    r.epochs_done = std::stoll(f.metadata.at("epochs_done"));
    r.global_step = std::stoll(f.metadata.at("global_step"));
    for (const auto& e : json::parse(f.metadata.at("history"))) r.history.push_back(EpochMetrics::from_json(e));
  } catch (const std::exception& e) {
    throw Error(detail::str(path, ": training state metadata is malformed (", e.what(), ")"));
  }
  return r;
}

void write_curves(const std::string& path, const std::vector<EpochMetrics>& history, const std::string& title) {
  Series tl{"train", {}, {}, "#1f77b4", false}, vl{"validation", {}, {}, "#d62728", false};
  Series ta = tl, va = vl;
  for (const auto& m : history) {
    const double e = static_cast<double>(m.epoch);
    tl.x.push_back(e), tl.y.push_back(m.train_loss);
    vl.x.push_back(e), vl.y.push_back(m.val_loss);
    ta.x.push_back(e), ta.y.push_back(m.train_acc);
    va.x.push_back(e), va.y.push_back(m.val_acc);
  }
  LineChart loss{title + ": loss", "epoch", "cross-entropy", {tl, vl}, 0, 0};
  LineChart acc{title + ": accuracy", "epoch", "accuracy", {ta, va}, 0, 1};
  write_file_atomic(path, svg_document(1000, 380, {line_chart_fragment(loss, 0, 0, 500, 380),
                                                   line_chart_fragment(acc, 500, 0, 500, 380)}));
}

// A run killed while writing leaves its temporary files behind (save_safetensors's
// NAME.safetensors.tmp.PID, write_file_atomic's NAME.tmp); the files they were to replace are
// intact. Removes those of processes that are gone, so that crashes do not pile up
// checkpoint-sized litter in the run folder.
void remove_stale_temp_files(const std::string& dir, bool quiet) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    bool stale = false;
    const auto tmp = name.rfind(".safetensors.tmp.");
    if (tmp != std::string::npos) {
      const std::string pid = name.substr(tmp + 17);
      if (!pid.empty() && pid.size() < 10 && pid.find_first_not_of("0123456789") == std::string::npos)
        stale = ::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH;
    } else if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      const std::string target = fs::path(name.substr(0, name.size() - 4)).extension().string();
      stale = target == ".json" || target == ".jsonl" || target == ".csv" || target == ".svg" || target == ".html" ||
              target == ".md";
    }
    if (stale && e.is_regular_file(ec) && fs::remove(e.path(), ec) && !quiet)
      std::printf("removed %s, left by an interrupted run\n", e.path().string().c_str());
  }
}

std::shared_ptr<const data::Dataset> limit(const data::DatasetPtr& d, std::int64_t n) {
  if (n <= 0 || n >= d->size()) return d;
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[static_cast<std::size_t>(i)] = i;
  return std::make_shared<data::Subset>(d, idx, "first " + std::to_string(n));
}

}  // namespace

TrainResult train(TrainConfig cfg) {
  if (!cfg.resume.empty()) {
    // Continue a run: its own config, possibly with more epochs.
    const std::string cfg_path = cfg.resume + "/config.json";
    std::ifstream f(cfg_path);
    MINIDL_CHECK(f.good(), "--resume ", cfg.resume, ": no config.json there (is it a run folder?)");
    json j;
    try {
      f >> j;
    } catch (const std::exception& e) {
      throw Error(detail::str(cfg_path, ": not valid JSON (", e.what(), ")"));
    }
    const TrainConfig flags = cfg;
    cfg = TrainConfig::from_json(j);
    if (flags.epochs > 0) cfg.epochs = std::max(cfg.epochs, flags.epochs);  // 0: not given
    cfg.quiet = flags.quiet;
    cfg.stop_after = flags.stop_after;
    cfg.resume = flags.resume;
    cfg.out = flags.resume;
  }
  cfg.validate();
  fs::create_directories(cfg.out);
  remove_stale_temp_files(cfg.out, cfg.quiet);
  const Device device = resolve_device(cfg.device, cfg.quiet);
  manual_seed(cfg.seed);

  // Data.
  data::DataSourceOptions src = data_source_from_flag(cfg.data);
  src.height = src.width = cfg.input_size;
  src.seed = cfg.seed;
  src.synthetic_size = cfg.synthetic_size;
  src.val_fraction = cfg.val_fraction;
  src.skip_bad = cfg.skip_bad;
  data::DataSplits splits = data::open_data(src);
  const data::DatasetPtr train_set = limit(splits.train, cfg.train_limit);
  const data::DatasetPtr val_set = splits.val;
  MINIDL_CHECK(train_set->size() >= cfg.batch_size, "the training set has ", train_set->size(),
               " images, fewer than one batch of ", cfg.batch_size);
  const auto& names = train_set->class_names();

  // Model, loss, optimiser, schedule.
  ModelInfo info;
  info.width = cfg.width;
  info.input_size = cfg.input_size;
  info.class_names = names;
  auto model = info.build();
  model->to(device);

  CrossEntropyOptions ce;
  ce.label_smoothing = cfg.label_smoothing;
  const auto counts = train_set->class_counts();
  if (cfg.class_weights == "balanced") {
    // sklearn's "balanced": n / (classes * n_c); absent classes get 0.
    std::vector<float> w(counts.size());
    for (std::size_t c = 0; c < counts.size(); ++c)
      w[c] = counts[c] ? static_cast<float>(train_set->size()) / static_cast<float>(counts.size() * counts[c]) : 0.f;
    ce.weight = Tensor::from_vector(w).to(device);
  }
  CrossEntropyLoss loss_fn(ce);

  std::unique_ptr<Optimizer> opt;
  if (cfg.optimizer == "sgd")
    opt = std::make_unique<SGD>(model->named_parameters(),
                                SgdOptions{cfg.lr, cfg.momentum, 0.0, cfg.weight_decay, cfg.nesterov});
  else
    opt = std::make_unique<AdamW>(model->named_parameters(),
                                  AdamWOptions{cfg.lr, 0.9, 0.999, 1e-8, cfg.weight_decay, 1});

  data::DataLoaderOptions lo;
  lo.batch_size = cfg.batch_size;
  lo.shuffle = true;
  lo.class_balanced = cfg.sampler == "balanced";
  lo.drop_last = true;  // a tiny last batch would give batch norm noisy statistics
  lo.num_workers = cfg.workers;
  lo.seed = cfg.seed;
  lo.augment = cfg.aug;
  lo.augment_options = cfg.aug_options;
  data::DataLoader loader(train_set, lo);
  const std::int64_t steps_per_epoch = loader.num_batches();

  LrSchedule sched;
  sched.kind = LrSchedule::parse(cfg.schedule);
  sched.base_lr = cfg.lr;
  sched.total_steps = steps_per_epoch * cfg.epochs;
  sched.step_size = steps_per_epoch * std::max<std::int64_t>(1, cfg.epochs / 3);
  sched.warmup_steps = static_cast<std::int64_t>(cfg.warmup_epochs * static_cast<double>(steps_per_epoch));

  TrainResult result;
  result.out = cfg.out;
  std::int64_t start_epoch = 0, global_step = 0;
  const std::string state_path = cfg.out + "/train_state.safetensors";
  if (!cfg.resume.empty()) {
    MINIDL_CHECK(fs::exists(state_path), "--resume ", cfg.resume, ": no train_state.safetensors (the run saved no epoch yet)");
    ResumeState r = load_train_state(state_path, *model, *opt);
    start_epoch = r.epochs_done;
    global_step = r.global_step;
    result.history = r.history;
    // A run killed after saving its state but before its metrics (or resumed when already
    // complete) would otherwise keep files that miss the last epochs.
    if (!result.history.empty()) {
      write_metrics(cfg.out, result.history);
      write_curves(cfg.out + "/curves.svg", result.history, cfg.aug ? "augmentation on" : "augmentation off");
    }
    if (!cfg.quiet) std::printf("resuming %s after epoch %lld of %lld\n", cfg.out.c_str(), (long long)start_epoch, (long long)cfg.epochs);
  }
  write_file_atomic(cfg.out + "/config.json", cfg.to_json().dump(2) + "\n");

  if (!cfg.quiet) {
    std::printf("data: %s\n  %s\n  train %lld images, validation %lld images, %lld classes\n", train_set->description().c_str(),
                splits.note.c_str(), (long long)train_set->size(), (long long)val_set->size(), (long long)names.size());
    std::printf("  class counts (train):");
    for (std::size_t c = 0; c < names.size(); ++c) std::printf(" %s %lld", names[c].c_str(), (long long)counts[c]);
    std::printf("\nmodel: resnet18 width %lld, %lld parameters, input 1x%lldx%lld, device %s\n", (long long)cfg.width,
                (long long)model->num_parameters(), (long long)cfg.input_size, (long long)cfg.input_size, device.str().c_str());
    std::printf("training: %lld epochs x %lld steps of %lld, %s lr %g (%s), augmentation %s\n", (long long)cfg.epochs,
                (long long)steps_per_epoch, (long long)cfg.batch_size, cfg.optimizer.c_str(), cfg.lr, cfg.schedule.c_str(),
                cfg.aug ? cfg.aug_options.str().c_str() : "off");
    std::fflush(stdout);
  }

  for (const auto& m : result.history)
    if (m.val_acc > result.best_val_acc || result.best_epoch == 0)
      result.best_epoch = m.epoch, result.best_val_acc = m.val_acc, result.best_val_loss = m.val_loss;

  const bool tty = isatty(fileno(stdout));
  const auto run_start = std::chrono::steady_clock::now();
  std::int64_t steps_this_run = 0;
  EvalOptions eo;
  eo.device = device;
  eo.workers = cfg.workers;
  for (std::int64_t epoch = start_epoch; epoch < cfg.epochs; ++epoch) {
    if (cfg.stop_after > 0 && epoch - start_epoch >= cfg.stop_after) {
      if (!cfg.quiet) std::printf("stopping after %lld epochs as asked; continue with --resume %s\n", (long long)cfg.stop_after, cfg.out.c_str());
      result.stopped_early = true;
      return result;
    }
    model->train();
    loader.start_epoch(epoch);
    const auto epoch_start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::int64_t seen = 0, correct = 0, step = 0;
    data::Batch batch;
    while (loader.next(batch)) {
      const double lr = sched.lr_at(global_step);
      opt->set_lr(lr);
      const Tensor x = batch.images.to(device), y = batch.labels.to(device);
      opt->zero_grad();
      Tensor logits = model->forward(x);
      Tensor loss = loss_fn(logits, y);
      const double l = loss.item();
      if (!std::isfinite(l)) {
        std::fprintf(stderr,
                     "\nerror: the loss became %s at epoch %lld step %lld (lr %g). Training stopped; the last good "
                     "checkpoint (%s) is kept. Try a lower --lr or --clip-grad-norm.\n",
                     std::isnan(l) ? "NaN" : "infinite", (long long)epoch + 1, (long long)step + 1, lr,
                     start_epoch == epoch && result.history.empty() ? "none yet" : (cfg.out + "/last.safetensors").c_str());
        result.diverged = true;
        return result;
      }
      loss.backward();
      if (cfg.clip_grad_norm > 0) clip_grad_norm_(model->parameters(), cfg.clip_grad_norm);
      opt->step();
      ++global_step, ++step, ++steps_this_run;

      const auto pred = argmax(logits).to_vector<std::int64_t>();
      const auto labels = batch.labels.to_vector<std::int64_t>();
      for (std::size_t i = 0; i < pred.size(); ++i) correct += pred[i] == labels[i];
      seen += batch.size();
      loss_sum += l * static_cast<double>(batch.size());

      if (!cfg.quiet && (tty || step % 10 == 0 || step == steps_per_epoch)) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
        const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
        const double per_step = total / static_cast<double>(steps_this_run);
        const double eta = per_step * static_cast<double>((cfg.epochs - epoch) * steps_per_epoch - step);
        std::printf("%sepoch %lld/%lld step %lld/%lld loss %.4f acc %.3f lr %.4g %.0f img/s ETA %s%s",
                    tty ? "\r" : "", (long long)epoch + 1, (long long)cfg.epochs, (long long)step,
                    (long long)steps_per_epoch, loss_sum / static_cast<double>(seen),
                    static_cast<double>(correct) / static_cast<double>(seen), lr, static_cast<double>(seen) / elapsed,
                    fmt_duration(eta).c_str(), tty ? "   " : "\n");
        std::fflush(stdout);
      }
    }
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    const EvalResult val = evaluate(*model, val_set, eo);

    EpochMetrics m;
    m.epoch = epoch + 1;
    m.train_loss = loss_sum / static_cast<double>(seen);
    m.train_acc = static_cast<double>(correct) / static_cast<double>(seen);
    m.val_loss = val.loss;
    m.val_acc = val.accuracy();
    m.lr = opt->lr();
    m.seconds = train_seconds + val.seconds;
    m.images_per_sec = static_cast<double>(seen) / train_seconds;
    result.history.push_back(m);

    const auto meta_with_epoch = [&] {
      auto meta = info.to_metadata();
      meta["minidl.epoch"] = std::to_string(m.epoch);
      meta["minidl.val_acc"] = std::to_string(m.val_acc);
      return meta;
    };
    const bool best = result.best_epoch == 0 || m.val_acc > result.best_val_acc ||
                      (m.val_acc == result.best_val_acc && m.val_loss < result.best_val_loss);
    if (best) {
      result.best_epoch = m.epoch, result.best_val_acc = m.val_acc, result.best_val_loss = m.val_loss;
      save_checkpoint(*model, cfg.out + "/best.safetensors", meta_with_epoch());
    }
    save_checkpoint(*model, cfg.out + "/last.safetensors", meta_with_epoch());
    save_train_state(state_path, *model, *opt, epoch + 1, global_step, result.history);
    write_metrics(cfg.out, result.history);
    write_curves(cfg.out + "/curves.svg", result.history, cfg.aug ? "augmentation on" : "augmentation off");
    if (!cfg.quiet) {
      std::printf("%sepoch %lld/%lld: train loss %.4f acc %.3f | val loss %.4f acc %.3f | %.0f img/s, %s%s\n",
                  tty ? "\r" : "", (long long)m.epoch, (long long)cfg.epochs, m.train_loss, m.train_acc, m.val_loss,
                  m.val_acc, m.images_per_sec, fmt_duration(m.seconds).c_str(), best ? " (best)" : "");
      std::fflush(stdout);
    }
  }

  if (cfg.write_report && result.best_epoch > 0) {
    // The run's summary is of the best model on the validation set.
    LoadedModel best = load_model(cfg.out + "/best.safetensors");
    best.model->to(device);
    const EvalResult val = evaluate(*best.model, val_set, eo);
    write_evaluation_files(cfg.out, val, "validation");
    write_report(cfg.out + "/report.html", cfg.to_json(), result.history, val, *val_set, cfg.out + "/curves.svg");
    if (!cfg.quiet) {
      std::printf("best epoch %lld: validation accuracy %.4f, macro-F1 %.4f, loss %.4f\n", (long long)result.best_epoch,
                  val.accuracy(), val.confusion.macro_f1(), val.loss);
      for (const auto& p : val.confusion.most_confused(3)) std::printf("  %s\n", val.confusion.describe(p).c_str());
      std::printf("wrote %s/{metrics.csv, curves.svg, best.safetensors, confusion_matrix.svg, report.html}\n", cfg.out.c_str());
    }
  }
  return result;
}

}  // namespace minidl::app
