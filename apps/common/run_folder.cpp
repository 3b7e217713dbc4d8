#include "common/run_folder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/escape.h"
#include "common/svg.h"
#include "minidl/base/error.h"
#include "minidl/core/file_io.h"
#include "minidl/core/rng.h"
#include "minidl/core/safetensors.h"
#include "minidl/data/image_io.h"
#include "minidl/layers/checkpoint.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace minidl::app {

namespace {

constexpr const char* kTrainState = "train_state.safetensors";

// Every file a run writes into its folder; a new run with --force removes them first.
const char* const kRunFiles[] = {"config.json",          "metrics.csv",          "metrics.jsonl",
                                 "curves.svg",           "last.safetensors",     "best.safetensors",
                                 kTrainState,            "confusion_counts.csv", "confusion_normalized.csv",
                                 "confusion_matrix.svg", "per_class.csv",        "predictions.csv",
                                 "summary.json",         "report.html"};
// Those that make a folder hold a run: something that took training to make.
const char* const kRunMarkers[] = {"last.safetensors", "best.safetensors", kTrainState, "metrics.csv"};

// A run killed while writing leaves its temporary files behind (NAME.tmp.PID of AtomicFile and
// save_safetensors, NAME.tmp of older versions); the files they were to replace are intact.
// Removes those of processes that are gone, so that crashes do not pile up checkpoint-sized
// litter in the run folder.
void remove_stale_temp_files(const std::string& dir, bool quiet) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    bool stale = false;
    const auto tmp = name.rfind(".tmp.");
    if (tmp != std::string::npos) {
      const std::string pid = name.substr(tmp + 5);
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

}  // namespace

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

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

void RunFolder::open_for_writing(const std::string& flag, bool resuming, bool replace, bool quiet) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  MINIDL_CHECK(!ec, flag, " ", dir_, ": cannot create the folder (", ec.message(), ")");
  // The lock is on the folder itself, so no lock file is left behind; the kernel releases it
  // when the process ends, however it ends.
  lock_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  MINIDL_CHECK(lock_fd_ >= 0, flag, " ", dir_, ": cannot open the folder (", std::strerror(errno), ")");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    MINIDL_FAIL(flag, " ", dir_, ": another training run is writing to this folder (it holds its lock); wait for it "
                "to end, or choose another --out");
  if (!resuming) {
    std::vector<std::string> found;
    for (const char* name : kRunMarkers)
      if (fs::exists(fs::symlink_status(file(name), ec))) found.push_back(name);
    if (!found.empty() && !replace) {
      std::string list;
      for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
      MINIDL_FAIL(flag, " ", dir_, ": already holds a training run (", list, "); continue it with --resume ", dir_,
                  ", choose another --out, or add --force to replace it");
    }
    if (!found.empty()) {
      for (const char* name : kRunFiles) fs::remove(file(name), ec);
      if (!quiet) std::printf("--force: removed the run that was in %s\n", dir_.c_str());
    }
  }
  remove_stale_temp_files(dir_, quiet);
}

void RunFolder::write_config(const TrainConfig& config) const {
  write_file_atomic(file("config.json"), config.to_json().dump(2) + "\n");
}

void RunFolder::write_png(const std::string& name, const data::GrayImage& image) const {
  const std::vector<std::uint8_t> png = data::encode_png(image);
  write_file_atomic(file(name), std::string(png.begin(), png.end()));
}

void RunFolder::write_history(const std::vector<EpochMetrics>& history, const std::string& title) const {
  std::string csv = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,images_per_sec\n", jsonl;
  char buf[256];
  for (const auto& m : history) {
    std::snprintf(buf, sizeof buf, "%lld,%.6f,%.6f,%.6f,%.6f,%.6g,%.2f,%.1f\n", static_cast<long long>(m.epoch),
                  m.train_loss, m.train_acc, m.val_loss, m.val_acc, m.lr, m.seconds, m.images_per_sec);
    csv += buf;
    jsonl += m.to_json().dump() + "\n";
  }
  write_file_atomic(file("metrics.csv"), csv);
  write_file_atomic(file("metrics.jsonl"), jsonl);

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
  write_file_atomic(file("curves.svg"), svg_document(1000, 380, {line_chart_fragment(loss, 0, 0, 500, 380),
                                                                line_chart_fragment(acc, 500, 0, 500, 380)}));
}

void RunFolder::save_model(const std::string& name, const Module& model,
                           const std::map<std::string, std::string>& metadata) const {
  save_checkpoint(model, file(name + ".safetensors"), metadata);
}

void RunFolder::save_train_state(const Module& model, const Optimizer& opt, const TrainState& state) const {
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
  for (const auto& m : state.history) h.push_back(m.to_json());
  json names = json::array();
  for (const auto& n : state.class_names) names.push_back(bytes_to_json(n));
  save_safetensors(file(kTrainState), tensors,
                   {{"epochs_done", std::to_string(state.epochs_done)},
                    {"global_step", std::to_string(state.global_step)},
                    {"history", h.dump()},
                    {"class_names", names.dump()},
                    {"train_images", std::to_string(state.train_images)}});
}

bool RunFolder::has_train_state() const { return fs::exists(file(kTrainState)); }

TrainState RunFolder::load_train_state(Module& model, Optimizer& opt) const {
  const std::string path = file(kTrainState);
  TensorFile f = load_safetensors(path);
  std::map<std::string, Tensor> m, o;
  for (auto& [n, t] : f.tensors) {
    if (n.rfind("model.", 0) == 0) m[n.substr(6)] = t;
    else if (n.rfind("optimizer.", 0) == 0) o[n.substr(10)] = t;
  }
  try {
    model.load_state_dict(m);
    opt.load_state_dict(o);
  } catch (const Error& e) {
    throw Error(detail::str(path, ": ", e.what()));
  }
  if (auto it = f.tensors.find("rng"); it != f.tensors.end() && it->second.numel() == 6) {
    Generator::State rng;
    for (std::size_t i = 0; i < rng.size(); ++i) rng[i] = static_cast<std::uint64_t>(it->second.data<std::int64_t>()[i]);
    default_generator().set_state(rng);
  }
  TrainState r;
  std::string key;  // the one being read, for the message
  auto integer = [&](const std::string& v) {
    std::size_t used = 0;
    const long long x = std::stoll(v, &used);
    if (used != v.size() || x < -1) throw std::invalid_argument("'" + v + "' is not a count");
    return static_cast<std::int64_t>(x);
  };
  try {
    key = "epochs_done", r.epochs_done = integer(f.metadata.at(key));
    key = "global_step", r.global_step = integer(f.metadata.at(key));
    key = "history";
    for (const auto& e : json::parse(f.metadata.at(key))) r.history.push_back(EpochMetrics::from_json(e));
    key = "class_names";
    if (f.metadata.count(key))
      for (const auto& n : json::parse(f.metadata.at(key))) r.class_names.push_back(bytes_from_json(n, key));
    key = "train_images";
    if (f.metadata.count(key)) r.train_images = integer(f.metadata.at(key));
  } catch (const std::exception& e) {
    throw Error(detail::str(path, ": training state metadata '", key, "' is missing or malformed (", e.what(), ")"));
  }
  return r;
}

}  // namespace minidl::app
