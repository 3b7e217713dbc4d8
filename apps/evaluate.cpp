// evaluate: a checkpoint on a data set: accuracy, macro-F1, per-class precision / recall / F1,
// the confusion matrix (CSV and SVG heatmap) and the most-confused pairs in words.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "common/app_flags.h"
#include "common/app_main.h"
#include "common/escape.h"
#include "common/evaluation.h"
#include "common/model_info.h"
#include "common/report.h"
#include "common/train_config.h"
#include "minidl/core/precision.h"
#include "minidl/config.h"
#include "minidl/core/file_io.h"
#include "minidl/data/source.h"

using namespace minidl;
using namespace minidl::app;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  std::string checkpoint, data_flag, split = "auto", out, device_flag = "auto", precision_flag = "fp32";
  std::uint64_t seed = 1;
  std::int64_t synthetic_size = 0, batch_size = 256;
  double val_fraction = 0;
  bool tta = false, json_out = false, skip_bad = false;
  int workers = 2;

  CLI::App app{"Evaluate a checkpoint: accuracy, macro-F1, per-class table, confusion matrix, most-confused pairs.\n"
               "Data flags default to the training run's config.json when it sits beside the checkpoint."};
  app.set_version_flag("--version", MINIDL_VERSION);
  app.add_option("--checkpoint", checkpoint, "A .safetensors checkpoint (minidl's, or a PyTorch state_dict of the model)")
      ->required();
  app.add_option("--data", data_flag, "synthetic | FILE.csv | DIR | fashion-mnist[:DIR] | kind:PATH");
  app.add_option("--split", split, "Which part: auto (test if the data has one, else val), train, val or test")
      ->check(CLI::IsMember({"auto", "train", "val", "test"}))
      ->capture_default_str();
  app.add_option("--out", out, "Folder for the CSV/SVG/JSON files (default: eval-<split> beside the checkpoint)");
  app.add_flag("--tta", tta, "Flip test-time augmentation: average the predictions of each image and its mirror");
  app.add_option("--seed", seed, "Seed of the synthetic data and the validation split");
  app.add_option("--synthetic-size", synthetic_size, "Synthetic faces (train + validation), as in training");
  app.add_option("--val-fraction", val_fraction, "Validation share where the data has no split of its own");
  app.add_flag("--skip-bad", skip_bad, "Skip malformed rows or unreadable images instead of failing");
  app.add_option("--batch-size", batch_size, "Images per forward pass")->capture_default_str();
  app.add_option("--device", device_flag, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--precision", precision_flag, "fp32, or bf16: convolutions and linear layers in bf16 with FP32 accumulation")->capture_default_str();
  app.add_option("--workers", workers, "Data-loading threads")->capture_default_str();
  app.add_flag("--json", json_out, "Print summary.json instead of the table");
  app_start();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    MINIDL_CHECK(batch_size >= 1 && batch_size <= 65536, "--batch-size must be from 1 to 65536, got ", batch_size);
    MINIDL_CHECK(workers >= 0 && workers <= 256, "--workers must be from 0 to 256, got ", workers);
    MINIDL_CHECK(synthetic_size >= 0 && synthetic_size <= 100'000'000, "--synthetic-size must be from 2 to 100000000, got ",
                 synthetic_size);
    MINIDL_CHECK(val_fraction == 0 || (val_fraction > 0 && val_fraction < 1), "--val-fraction must be in (0, 1), got ",
                 val_fraction);
    MINIDL_CHECK(fs::exists(checkpoint), "--checkpoint ", checkpoint, ": no such file");
    // The training run's settings, when the checkpoint is in a run folder.
    TrainConfig run;
    std::string data_origin = "--data";
    const std::string run_config = (fs::path(checkpoint).parent_path() / "config.json").string();
    if (fs::exists(run_config)) {
      try {
        run = load_run_config(run_config);
        if (data_flag.empty()) data_origin = "data '" + run.data + "' of " + run_config;
      } catch (const Error& e) {
        // Needed only for what the flags do not give.
        MINIDL_CHECK(!data_flag.empty(), e.what(), "; it gives the data the run was trained on (or give --data)");
        std::fprintf(stderr, "warning: ignoring %s\n", e.what());
        run = TrainConfig();
      }
    }
    if (data_flag.empty()) data_flag = run.data;
    if (!synthetic_size) synthetic_size = run.synthetic_size;
    if (!val_fraction) val_fraction = run.val_fraction;
    if (!app.count("--seed")) seed = run.seed;

    const Precision precision = parse_precision(precision_flag, "--precision");
    LoadedModel loaded = load_model(checkpoint);
    const Device device = resolve_device(device_flag, json_out);
    loaded.model->to(device);

    data::DataSourceOptions src = data_source_from_flag(data_flag, data_origin);
    src.height = src.width = loaded.info.input_size;
    src.seed = seed;
    src.synthetic_size = synthetic_size;
    src.val_fraction = val_fraction;
    src.skip_bad = skip_bad;
    data::DataSplits splits = data::open_data(src);
    if (split == "auto") split = splits.test ? "test" : "val";
    data::DatasetPtr ds = split == "train" ? splits.train : split == "val" ? splits.val : splits.test;
    MINIDL_CHECK(ds != nullptr, "--split test: ", src.str(), " has no test part (use --split val)");
    // Labels are indices: the same number of classes under other names would score a model on
    // the wrong answers. A bare state_dict names no classes: only their number can be checked.
    const auto& model_names = loaded.info.names();
    if (loaded.info.has_class_names)
      MINIDL_CHECK(ds->class_names() == model_names, "the classes of ", src.str(), " (", printable_list(ds->class_names()),
                   ") are not those of the checkpoint ", checkpoint, " (", printable_list(model_names), ")");
    MINIDL_CHECK(ds->class_names().size() == model_names.size(), "the checkpoint has ", model_names.size(),
                 " classes but ", src.str(), " has ", ds->class_names().size());

    EvalOptions eo;
    eo.device = device;
    eo.flip_tta = tta;
    eo.batch_size = batch_size;
    eo.workers = workers;
    eo.precision = precision;
    eo.mean = static_cast<float>(loaded.info.mean);
    eo.std = static_cast<float>(loaded.info.std);
    const EvalResult r = evaluate(*loaded.model, ds, eo);

    if (out.empty()) out = (fs::path(checkpoint).parent_path() / ("eval-" + split)).string();
    if (out.empty()) out = "eval-" + split;
    fs::create_directories(out);
    write_evaluation_files(out, r, split + (tta ? ", flip TTA" : ""));
    if (json_out) {
      std::printf("%s", read_regular_file(out + "/summary.json").c_str());
    } else {
      std::printf("%s: %s (%s split%s)\n%s", checkpoint.c_str(), ds->description().c_str(), split.c_str(),
                  tta ? ", flip TTA" : "", evaluation_text(r).c_str());
      std::printf("wrote %s/{confusion_counts.csv, confusion_normalized.csv, confusion_matrix.svg, per_class.csv, summary.json}\n",
                  out.c_str());
    }
    return app_exit(0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
