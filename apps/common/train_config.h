// Everything a training run is configured by: the flags of train_resnet, kept in the run folder
// as config.json (so a run can be resumed, evaluated and reported with its own settings), and
// checked before any work starts.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "minidl/data/augment.h"

namespace minidl::app {

struct TrainConfig {
  static constexpr std::int64_t kMaxEpochs = 100000;

  // data
  std::string data = "synthetic";  // synthetic | FILE.csv | DIR | fashion-mnist[:DIR] | kind:PATH
  std::int64_t input_size = 64;
  std::int64_t synthetic_size = 6000;  // train + validation images of the built-in faces
  double val_fraction = 0.15;
  std::int64_t train_limit = 0;        // use only N training images, class balance kept (0: all)
  bool skip_bad = false;
  // augmentation
  bool aug = true;
  data::AugmentOptions aug_options;
  // model
  std::int64_t width = 64;
  // optimisation
  std::int64_t epochs = 8;
  std::int64_t batch_size = 64;
  std::string optimizer = "sgd";  // sgd | adamw
  double lr = 0.05;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  std::string schedule = "onecycle";  // constant | step | cosine | warmup-cosine | onecycle
  double warmup_epochs = 1;
  double label_smoothing = 0.0;
  std::string class_weights = "none";  // none | balanced
  std::string sampler = "uniform";     // uniform | balanced
  double clip_grad_norm = 0;           // 0: off
  std::string precision = "fp32";      // fp32 | bf16 (core/precision.h)
  // data-parallel training (mpirun -np N): batch norm over the global batch
  bool sync_bn = false;
  // How many processes trained the run (set by the trainer, kept in config.json): --resume needs
  // as many, since the shards and the global batch of every step depend on it.
  std::int64_t world_size = 1;
  // running
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  int workers = 2;
  std::uint64_t seed = 1;
  std::string out = "runs/latest";
  std::string resume;  // a run folder to continue
  bool force = false;  // replace the run in `out` (not saved in config.json)
  // Capture each training step as a CUDA graph and replay it (layers/graphed_step.h). How a run
  // is executed, not what it computes: not saved in config.json, honoured by --resume.
  bool cuda_graph = false;
  std::int64_t stop_after = 0;  // stop after this many epochs of this invocation (0: run to the end)
  bool quiet = false;
  bool write_report = true;

  // Names and paths that are not UTF-8 are kept as byte arrays (escape.h).
  nlohmann::json to_json() const;
  // Throws minidl::Error naming the key whose value has the wrong type.
  static TrainConfig from_json(const nlohmann::json& j);
  // Throws minidl::Error for a value out of range or an invalid combination, naming the flag.
  void validate() const;
};

// A run folder's config.json; errors name the file (and the key).
TrainConfig load_run_config(const std::string& path);

// The configuration a run goes by. Without --resume, the flags. With --resume DIR, DIR's own
// config.json; of the flags given on the command line (`given`, as "--lr"), a resume honours
// --epochs (a longer run), --stop-after, --quiet, --device and --workers, and refuses any other
// that would change the run, naming it.
TrainConfig resolve_config(const TrainConfig& flags, const std::set<std::string>& given);

// The config.json of the run folder `dir`. Throws minidl::Error naming the folder when there is
// none, or the file when it is not valid JSON.
TrainConfig read_run_config(const std::string& dir);

}  // namespace minidl::app
