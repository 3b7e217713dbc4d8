// Smoke tests of the apps on tiny data (a width-4 model on 32x32 synthetic faces, seconds):
// the outputs exist and agree with each other, resume is exact, bad input fails cleanly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "minidl/core/safetensors.h"
#include "minidl/data/image_io.h"
#include "minidl/data/source.h"
#include "app_run.h"
#include "support.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

using minidl::test::TempDir;
using Run = minidl::test::AppRun;

Run run(const std::string& app, const std::string& args) { return minidl::test::run_app(app, args); }
std::string read(const fs::path& p) { return minidl::test::read_file(p.string()); }
std::vector<std::vector<std::string>> csv(const fs::path& p) { return minidl::test::parse_csv(read(p)); }

const std::string kTiny = "--width 4 --input-size 32 --synthetic-size 280 --batch-size 16 --workers 1 --quiet --seed 3";

// An image folder (one folder per class) that a tiny model learns in a few dozen steps: 32x32
// gray images whose classes differ in brightness (50, 128, 206), under stripes of random
// orientation and phase and +-40 of noise. Three classes of 64 images.
const std::vector<std::string> kEasyClasses = {"bright", "dark", "mid"};  // sorted, as the folder reader orders them

void write_easy_folder(const fs::path& dir) {
  std::mt19937 gen(5);
  const int means[] = {206, 50, 128};
  for (std::size_t c = 0; c < kEasyClasses.size(); ++c) {
    fs::create_directories(dir / kEasyClasses[c]);
    for (int i = 0; i < 64; ++i) {
      minidl::data::GrayImage img(32, 32);
      const int phase = static_cast<int>(gen() % 8);
      const bool vertical = gen() % 2 == 0;
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          const int stripe = ((vertical ? x : y) + phase) % 8 < 4 ? 20 : -20;
          const int noise = static_cast<int>(gen() % 81) - 40;
          img.at(y, x) = static_cast<std::uint8_t>(std::clamp(means[c] + stripe + noise, 0, 255));
        }
      minidl::data::save_image((dir / kEasyClasses[c] / (std::to_string(i) + ".png")).string(), img);
    }
  }
}

}  // namespace

TEST_CASE("train_resnet learns (validation accuracy above chance), and evaluate and predict agree with it", "[apps]") {
  TempDir tmp;
  const fs::path data_dir = tmp.path() / "easy", run_dir = tmp.path() / "run";
  write_easy_folder(data_dir);
  // 4 epochs of 10 steps: enough for the batch-norm running statistics (momentum 0.1) that the
  // validation pass uses to settle; at 2 epochs they are still far from the data's.
  Run t = run("train_resnet", "--data " + data_dir.string() +
                                  " --width 4 --input-size 32 --batch-size 16 --workers 1 --quiet --seed 3 --epochs 4 --out " +
                                  run_dir.string());
  INFO(t.out << t.err);
  REQUIRE(t.code == 0);
  for (const char* f : {"config.json", "metrics.csv", "metrics.jsonl", "curves.svg", "last.safetensors", "best.safetensors",
                        "train_state.safetensors", "confusion_matrix.svg", "confusion_counts.csv", "per_class.csv",
                        "report.html", "summary.json"})
    CHECK(fs::exists(run_dir / f));
  CHECK(csv(run_dir / "metrics.csv").size() == 5);  // header + 4 epochs

  // The model learned: the best model's validation accuracy is well above chance, the share of
  // the largest class among the validation images (per_class.csv's support column).
  {
    const auto per_class = csv(run_dir / "per_class.csv");
    REQUIRE(per_class.size() == kEasyClasses.size() + 1);
    long total = 0, largest = 0;
    for (std::size_t r = 1; r < per_class.size(); ++r) {
      const long support = std::stol(per_class[r].back());
      total += support;
      largest = std::max(largest, support);
    }
    REQUIRE(total > 0);
    const double chance = static_cast<double>(largest) / total;
    const double accuracy = nlohmann::json::parse(read(run_dir / "summary.json")).at("accuracy").get<double>();
    std::printf("train_resnet smoke run: validation accuracy %.3f, chance %.3f (%ld images)\n", accuracy, chance, total);
    CHECK(accuracy >= chance + 0.3);
  }
  const auto config = nlohmann::json::parse(read(run_dir / "config.json"));
  CHECK(config.at("seed") == 3);
  CHECK(config.contains("version"));
  const auto meta = minidl::read_safetensors_metadata((run_dir / "best.safetensors").string());
  CHECK(meta.at("minidl.input_size") == "32");
  CHECK(read(run_dir / "report.html").find("<svg") != std::string::npos);

  // evaluate: the confusion matrix sums to the images evaluated, its trace / total is the accuracy.
  const fs::path eval_dir = tmp.path() / "eval";
  Run e = run("evaluate", "--checkpoint " + (run_dir / "best.safetensors").string() + " --split val --json --workers 1 --out " +
                              eval_dir.string());
  INFO(e.err);
  REQUIRE(e.code == 0);
  const auto summary = nlohmann::json::parse(e.out);
  const auto counts = csv(eval_dir / "confusion_counts.csv");
  REQUIRE(counts.size() == kEasyClasses.size() + 1);  // header + the classes
  long total = 0, trace = 0;
  for (std::size_t r = 1; r < counts.size(); ++r)
    for (std::size_t c = 1; c < counts[r].size(); ++c) {
      total += std::stol(counts[r][c]);
      if (r == c) trace += std::stol(counts[r][c]);
    }
  CHECK(total == summary.at("images").get<long>());
  CHECK(static_cast<double>(trace) / total == Approx(summary.at("accuracy").get<double>()).epsilon(1e-9));
  // The run's own validation summary is of the same model and data: the same accuracy.
  const auto run_summary = nlohmann::json::parse(read(run_dir / "summary.json"));
  CHECK(run_summary.at("accuracy").get<double>() == Approx(summary.at("accuracy").get<double>()));

  // predict on validation image 0 (written as a PNG) agrees with evaluate's prediction for it.
  minidl::data::DataSourceOptions src;
  src.kind = "folder";
  src.path = data_dir.string();
  src.height = src.width = 32;
  src.seed = 3;
  src.val_fraction = config.at("val_fraction");
  const auto splits = minidl::data::open_data(src);
  const fs::path png = tmp.path() / "val0.png";
  minidl::data::save_image(png.string(), splits.val->get(0).image);
  Run p = run("predict", "--json --checkpoint " + (run_dir / "best.safetensors").string() + " " + png.string());
  INFO(p.err);
  REQUIRE(p.code == 0);
  const auto pred = nlohmann::json::parse(p.out);
  const auto rows = csv(eval_dir / "predictions.csv");
  REQUIRE(rows.size() > 1);
  CHECK(rows[1][0] == "0");
  CHECK(pred.at(0).at("class_index").get<long>() == std::stol(rows[1][2]));
  CHECK(pred.at(0).at("top").at(0).at("probability").get<double>() == Approx(std::stod(rows[1][3])).epsilon(1e-3));
}

TEST_CASE("train_resnet --resume continues exactly as an uninterrupted run", "[apps]") {
  TempDir tmp;
  const std::string a = (tmp.path() / "a").string(), b = (tmp.path() / "b").string();
  // On the CPU, where training is bit-identical run to run: --device auto would take a GPU where
  // there is one, and cuDNN's algorithm search may pick differently in the two runs. The resumed
  // run takes the device from the run folder's config.json.
  const std::string cpu = kTiny + " --device cpu";
  REQUIRE(run("train_resnet", cpu + " --epochs 3 --out " + a).code == 0);
  REQUIRE(run("train_resnet", cpu + " --epochs 3 --stop-after 2 --out " + b).code == 0);
  CHECK(csv(fs::path(b) / "metrics.csv").size() == 3);
  Run r = run("train_resnet", "--quiet --resume " + b);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto ta = minidl::load_safetensors(a + "/last.safetensors"), tb = minidl::load_safetensors(b + "/last.safetensors");
  REQUIRE(ta.tensors.size() == tb.tensors.size());
  for (const auto& [name, t] : ta.tensors) {
    INFO(name);
    const auto& u = tb.tensors.at(name);
    REQUIRE(t.nbytes() == u.nbytes());
    CHECK(std::memcmp(t.raw_data(), u.raw_data(), t.nbytes()) == 0);
  }
  CHECK(read(fs::path(a) / "metrics.csv").size() > 0);
}

TEST_CASE("train_resnet --ablation writes both runs and the comparison", "[apps]") {
  TempDir tmp;
  Run r = run("train_resnet", kTiny + " --epochs 2 --ablation --out " + tmp.path().string());
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(fs::exists(tmp.path() / "aug-off" / "metrics.csv"));
  CHECK(fs::exists(tmp.path() / "aug-on" / "metrics.csv"));
  CHECK(read(tmp.path() / "ablation.svg").find("no aug: validation") != std::string::npos);
  CHECK_THAT(read(tmp.path() / "ablation.md"), Contains("| off |") && Contains("| on |"));
}

TEST_CASE("apps: bad flags and missing files give a one-line error and a non-zero exit", "[apps]") {
  auto one_line_error = [](const Run& r) {
    INFO(r.err);
    CHECK(r.code != 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') <= 2);
    CHECK(r.err.find("terminate") == std::string::npos);
  };
  Run r = run("train_resnet", "--epochs 0 --quiet");
  one_line_error(r);
  CHECK_THAT(r.err, Contains("--epochs"));
  r = run("train_resnet", "--aug maybe");
  one_line_error(r);
  r = run("train_resnet", "--data /nonexistent/faces.csv --quiet");
  one_line_error(r);
  CHECK_THAT(r.err, Contains("/nonexistent/faces.csv"));
  r = run("evaluate", "--checkpoint /nonexistent.safetensors");
  one_line_error(r);
  CHECK_THAT(r.err, Contains("/nonexistent.safetensors"));
  r = run("predict", "--checkpoint " + std::string(MINIDL_TEST_DATA_DIR) + "/golden_resnet18_w4_state.safetensors /nonexistent.png");
  one_line_error(r);
  CHECK_THAT(r.err, Contains("/nonexistent.png"));
  r = run("train_resnet", "--precision fp16 --quiet");
  one_line_error(r);
  CHECK_THAT(r.err, Contains("--precision") && Contains("fp16"));
  r = run("evaluate", "--precision half --checkpoint " + std::string(MINIDL_TEST_DATA_DIR) +
                          "/golden_resnet18_w4_state.safetensors");
  one_line_error(r);
  CHECK_THAT(r.err, Contains("--precision"));
  r = run("train_resnet", "--resume /nonexistent-run");
  one_line_error(r);
  CHECK_THAT(r.err, Contains("/nonexistent-run"));
  CHECK(run("train_resnet", "--help").out.find("--aug") != std::string::npos);
  CHECK(run("evaluate", "--help").code == 0);
  CHECK(run("predict", "--help").code == 0);
}

TEST_CASE("predict reads a PyTorch state_dict with no metadata as the FER model", "[apps]") {
  // The golden state file is a bare state_dict written by PyTorch (width 4, 7 classes).
  TempDir tmp;
  minidl::data::GrayImage img(48, 40, 128);
  const fs::path png = tmp.path() / "gray.png";
  minidl::data::save_image(png.string(), img);
  Run r = run("predict", "--checkpoint " + std::string(MINIDL_TEST_DATA_DIR) + "/golden_resnet18_w4_state.safetensors " +
                             png.string() + " --top-k 7");
  INFO(r.err);
  REQUIRE(r.code == 0);
  for (const char* c : {"Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"}) CHECK_THAT(r.out, Contains(c));
}

TEST_CASE("a diverging run stops with a clear message and keeps the last good checkpoint", "[apps]") {
  TempDir tmp;
  const fs::path dir = tmp.path() / "run";
  REQUIRE(run("train_resnet", kTiny + " --epochs 1 --out " + dir.string()).code == 0);
  const std::string good = read(dir / "last.safetensors");
  // Continue for a second epoch with an absurd learning rate: the loss turns NaN or Inf.
  auto config = nlohmann::json::parse(read(dir / "config.json"));
  config["lr"] = 1e12;
  config["schedule"] = "constant";
  std::ofstream(dir / "config.json") << config.dump();
  Run r = run("train_resnet", "--quiet --resume " + dir.string() + " --epochs 2");
  INFO(r.out << r.err);
  CHECK(r.code == 3);
  CHECK_THAT(r.err, Contains("loss became") && Contains("last good checkpoint") && Contains("--lr"));
  CHECK(read(dir / "last.safetensors") == good);
  CHECK(csv(dir / "metrics.csv").size() == 2);  // header + the good epoch
}

// Issue 22: bf16 training (core/precision.h) must learn as well as FP32. The same run twice on
// the built-in faces, CPU, differing only in --precision; the final validation accuracies must
// agree within 0.02 and both be well above chance (0.26: always Happy), so the comparison is
// between two runs that learned.
TEST_CASE("train_resnet says what MINIDL_CPU_CONV=benchmark costs, and trains with it", "[apps]") {
  TempDir tmp;
  const fs::path data_dir = tmp.path() / "easy";
  write_easy_folder(data_dir);
  const std::string cfg = "--data " + data_dir.string() +
                          " --width 4 --input-size 32 --batch-size 16 --workers 1 --seed 3 --epochs 1 --device cpu";
  const std::string note = "note: MINIDL_CPU_CONV=benchmark";
  const Run with = minidl::test::run_app("train_resnet", cfg + " --out " + (tmp.path() / "a").string(),
                                         "export MINIDL_CPU_CONV=benchmark");
  INFO(with.out << with.err);
  REQUIRE(with.code == 0);
  CHECK_THAT(with.out, Contains(note) && Contains("not bit-identical"));
  const Run without = run("train_resnet", cfg + " --out " + (tmp.path() / "b").string());
  REQUIRE(without.code == 0);
  CHECK(without.out.find(note) == std::string::npos);
}

TEST_CASE("train_resnet --precision bf16 learns as the FP32 run does", "[apps][bf16]") {
  // The easy folder of the smoke test above, trained twice from the same seed: both runs must
  // learn it (validation accuracy well above chance), to within 2 of the validation images.
  // Six epochs, so that both runs reach the folder's ceiling: after four they were still
  // climbing, and a change of convolution backend alone (the stem's backward-filter moving to
  // im2col, 2026-12-03) moved them 3 images apart (FP32 0.900, bf16 1.000).
  // A policy that broke learning (a gradient rounded to zero, a master weight kept in bf16)
  // fails the first check; the last one shows that the policy was on at all.
  TempDir tmp;
  const fs::path data_dir = tmp.path() / "easy", a = tmp.path() / "fp32", b = tmp.path() / "bf16";
  write_easy_folder(data_dir);
  const std::string cfg = "--data " + data_dir.string() +
                          " --width 4 --input-size 32 --batch-size 16 --workers 1 --quiet --seed 3 --epochs 6 --device cpu";
  Run ra = run("train_resnet", cfg + " --precision fp32 --out " + a.string());
  INFO(ra.err);
  REQUIRE(ra.code == 0);
  Run rb = run("train_resnet", cfg + " --precision bf16 --out " + b.string());
  INFO(rb.err);
  REQUIRE(rb.code == 0);
  CHECK(nlohmann::json::parse(read(b / "config.json")).at("precision") == "bf16");
  const auto accuracy = [](const fs::path& dir) {
    return nlohmann::json::parse(read(dir / "summary.json")).at("accuracy").get<double>();
  };
  const double acc_fp32 = accuracy(a), acc_bf16 = accuracy(b);
  long images = 0, largest = 0;  // the validation images, and the largest class among them
  const auto per_class = csv(a / "per_class.csv");
  for (std::size_t r = 1; r < per_class.size(); ++r) {
    images += std::stol(per_class[r].back());
    largest = std::max(largest, std::stol(per_class[r].back()));
  }
  REQUIRE(images > 0);
  const double chance = static_cast<double>(largest) / images;
  std::printf("[bf16 run] best validation accuracy: fp32 %.3f, bf16 %.3f (%ld images; chance %.3f)\n", acc_fp32,
              acc_bf16, images, chance);
  CHECK(acc_fp32 >= chance + 0.3);
  CHECK(acc_bf16 >= chance + 0.3);
  CHECK(std::fabs(acc_bf16 - acc_fp32) <= 2.0 / static_cast<double>(images) + 1e-9);
  // The policy was on: the two runs' weights differ.
  CHECK(read(a / "last.safetensors") != read(b / "last.safetensors"));
}
