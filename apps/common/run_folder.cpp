#include "common/run_folder.h"

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "common/svg.h"
#include "minidl/base/error.h"
#include "minidl/core/file_io.h"
#include "minidl/core/rng.h"
#include "minidl/core/safetensors.h"
#include "minidl/layers/checkpoint.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace minidl::app {

namespace {

constexpr const char* kTrainState = "train_state.safetensors";

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

void RunFolder::create(bool quiet) const {
  fs::create_directories(dir_);
  remove_stale_temp_files(dir_, quiet);
}

void RunFolder::write_config(const TrainConfig& config) const {
  write_file_atomic(file("config.json"), config.to_json().dump(2) + "\n");
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
  save_safetensors(file(kTrainState), tensors,
                   {{"epochs_done", std::to_string(state.epochs_done)},
                    {"global_step", std::to_string(state.global_step)},
                    {"history", h.dump()}});
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
  model.load_state_dict(m);
  opt.load_state_dict(o);
  if (auto it = f.tensors.find("rng"); it != f.tensors.end() && it->second.numel() == 6) {
    Generator::State rng;
    for (std::size_t i = 0; i < rng.size(); ++i) rng[i] = static_cast<std::uint64_t>(it->second.data<std::int64_t>()[i]);
    default_generator().set_state(rng);
  }
  TrainState r;
  try {
    r.epochs_done = std::stoll(f.metadata.at("epochs_done"));
    r.global_step = std::stoll(f.metadata.at("global_step"));
    for (const auto& e : json::parse(f.metadata.at("history"))) r.history.push_back(EpochMetrics::from_json(e));
  } catch (const std::exception& e) {
    throw Error(detail::str(path, ": training state metadata is malformed (", e.what(), ")"));
  }
  return r;
}

}  // namespace minidl::app
