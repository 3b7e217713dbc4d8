// train_resnet --ablation: at reduced size it shows the direction of what the full-size run shows
// (docs/ablation.md): without augmentation the model overfits (its validation loss reaches a
// minimum, then ends clearly above it while its training loss keeps falling), with augmentation
// it ends with a lower best validation loss and a higher best validation accuracy. The figures
// are read from the two runs' metrics.csv and judged here, not taken from the app's own summary,
// which is then checked against them. And an interrupted ablation continues exactly.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "test_data_helpers.h"

namespace {

struct Epoch {
  int epoch;
  double train_loss, val_loss, val_acc;
};

std::vector<Epoch> read_metrics(const std::string& path) {
  std::istringstream in(minidl::data::testing::read_file(path));
  std::string line;
  std::getline(in, line);
  REQUIRE(line.rfind("epoch,train_loss,train_acc,val_loss,val_acc", 0) == 0);
  std::vector<Epoch> rows;
  while (std::getline(in, line)) {
    std::vector<double> v;
    std::stringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) v.push_back(std::stod(cell));
    REQUIRE(v.size() >= 5);
    rows.push_back({static_cast<int>(v[0]), v[1], v[3], v[4]});
  }
  return rows;
}

const Epoch& min_val_loss(const std::vector<Epoch>& h) {
  return *std::min_element(h.begin(), h.end(), [](const Epoch& a, const Epoch& b) { return a.val_loss < b.val_loss; });
}
double max_val_acc(const std::vector<Epoch>& h) {
  return std::max_element(h.begin(), h.end(), [](const Epoch& a, const Epoch& b) { return a.val_acc < b.val_acc; })->val_acc;
}

}  // namespace

TEST_CASE("ablation at reduced size: without augmentation the model overfits, with it it generalises better",
          "[apps][ablation]") {
  minidl::data::testing::TempDir tmp("ablation_guard");
  // A width-16 ResNet-18 on 48x48 faces, 2,000 of them (1,500 / 500), 30 epochs: 150 to 156 s on
  // one thread of the 2-core machine for both runs (docs/ablation.md, "The CI guard", which has
  // the figures of seeds 1 to 3; seed 2 is used here). One thread: OpenMP's two threads on a
  // core another test keeps busy cost several times the time.
  const std::string cmd = "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 " + std::string(MINIDL_BINARY_DIR) +
                          "/apps/train_resnet --ablation --width 16 --input-size 48 --synthetic-size 2000 --epochs 30 "
                          "--batch-size 32 --workers 1 --quiet --seed 2 --out " +
                          (tmp / "run") + " >" + (tmp / "log") + " 2>&1";
  const int status = std::system(cmd.c_str());
  INFO(minidl::data::testing::read_file(tmp / "log"));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  const auto off = read_metrics(tmp / "run/aug-off/metrics.csv"), on = read_metrics(tmp / "run/aug-on/metrics.csv");
  REQUIRE(off.size() == 30);
  REQUIRE(on.size() == 30);
  const Epoch& best_off = min_val_loss(off);
  const Epoch& best_on = min_val_loss(on);
  const Epoch& last_off = off.back();
  INFO("no aug: min val loss " << best_off.val_loss << " at epoch " << best_off.epoch << ", final " << last_off.val_loss
                               << ", train loss " << best_off.train_loss << " -> " << last_off.train_loss
                               << ", best acc " << max_val_acc(off) << "; aug: min val loss " << best_on.val_loss
                               << ", best acc " << max_val_acc(on));

  // The thresholds leave room below what was measured on two machines (docs/ablation.md, "The
  // CI guard"): a rise of 42 to 56% of the minimum (here 20%), training loss at the end below
  // 0.01 against 0.9 to 1.5 at the minimum (here half), and a best validation loss 0.36 to 0.73
  // lower with augmentation (here 0.2).
  // Without augmentation: a minimum before the end, a clear rise after it, training loss falling.
  CHECK(best_off.epoch < last_off.epoch);
  CHECK(last_off.val_loss - best_off.val_loss >= 0.2 * best_off.val_loss);
  CHECK(last_off.train_loss < 0.5 * best_off.train_loss);
  // With augmentation: a clearly lower validation loss. Its best accuracy must not be clearly
  // worse; it is usually 0.07 to 0.18 higher, but a margin of 0.03 (issue 19's) is one standard
  // deviation of the difference of two accuracies near 0.6 on 500 images, and the augmented run
  // is still climbing at epoch 30: on the AVX-512 machine one seed in each of two builds came out
  // at -0.016 and +0.018 (docs/ablation.md). The loss is what fails when augmentation stops
  // helping (both runs then overfit alike).
  CHECK(best_on.val_loss < best_off.val_loss - 0.2);
  CHECK(max_val_acc(on) > max_val_acc(off) - 0.05);

  // The app's own verdict agrees.
  const std::string md = minidl::data::testing::read_file(tmp / "run/ablation.md");
  CHECK_THAT(md, Catch::Matchers::Contains("overfits from epoch " + std::to_string(best_off.epoch)));
}

TEST_CASE("train_resnet --ablation --resume continues an interrupted ablation exactly", "[apps][ablation]") {
  minidl::data::testing::TempDir tmp("ablation_resume");
  const std::string app = std::string(MINIDL_BINARY_DIR) + "/apps/train_resnet ";
  const std::string tiny = "--width 4 --input-size 32 --synthetic-size 280 --batch-size 16 --workers 1 --quiet --seed 3 ";
  auto run = [&](const std::string& args) {
    const int status = std::system((app + args + " >" + (tmp / "log") + " 2>&1").c_str());
    INFO(args << "\n" << minidl::data::testing::read_file(tmp / "log"));
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  };
  run("--ablation --epochs 2 " + tiny + "--out " + (tmp / "whole"));
  // Killed (as if) after aug-off's first epoch, then after aug-on's first: each invocation
  // continues where the last one stopped, and a run that never started starts from aug-off's
  // settings.
  run("--ablation --epochs 2 --stop-after 1 " + tiny + "--out " + (tmp / "parts"));
  CHECK_FALSE(std::filesystem::exists(tmp / "parts/aug-on"));
  CHECK_FALSE(std::filesystem::exists(tmp / "parts/ablation.md"));
  run("--ablation --stop-after 1 --quiet --resume " + (tmp / "parts"));
  CHECK_FALSE(std::filesystem::exists(tmp / "parts/ablation.md"));
  run("--ablation --quiet --resume " + (tmp / "parts"));

  // The same epochs (to the 6 decimals metrics.csv keeps; the time columns aside), and so the
  // same verdict.
  for (const char* part : {"aug-off", "aug-on"}) {
    const auto a = read_metrics(tmp / (std::string("whole/") + part + "/metrics.csv"));
    const auto b = read_metrics(tmp / (std::string("parts/") + part + "/metrics.csv"));
    REQUIRE(a.size() == 2);
    REQUIRE(b.size() == 2);
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i].train_loss == b[i].train_loss);
      CHECK(a[i].val_loss == b[i].val_loss);
      CHECK(a[i].val_acc == b[i].val_acc);
    }
  }
  CHECK(minidl::data::testing::read_file(tmp / "whole/ablation.md") ==
        minidl::data::testing::read_file(tmp / "parts/ablation.md"));
  // The figure's two panels, each with both runs' best epoch marked.
  const std::string svg = minidl::data::testing::read_file(tmp / "parts/ablation.svg");
  CHECK_THAT(svg, Catch::Matchers::Contains("Loss without and with augmentation") &&
                      Catch::Matchers::Contains("Validation accuracy"));
  int markers = 0;
  for (std::size_t at = svg.find(">best "); at != std::string::npos; at = svg.find(">best ", at + 1)) ++markers;
  CHECK(markers == 4);
  CHECK(std::filesystem::exists(tmp / "parts/report.html"));
  CHECK(std::filesystem::exists(tmp / "parts/aug-on/augmentation.png"));
}

TEST_CASE("train_resnet --ablation's own defaults apply only where the flags leave them", "[apps][ablation]") {
  minidl::data::testing::TempDir tmp("ablation_defaults");
  const std::string app = std::string(MINIDL_BINARY_DIR) + "/apps/train_resnet --ablation --epochs 1 --input-size 32 "
                                                           "--workers 1 --quiet --seed 3 ";
  auto run = [&](const std::string& args) {
    const int status = std::system((app + args + " >" + (tmp / "log") + " 2>&1").c_str());
    INFO(args << "\n" << minidl::data::testing::read_file(tmp / "log"));
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  };
  // On the built-in faces, without --width, --batch-size and --val-fraction: ResNet-18 at width
  // 32, batch 32, a quarter of the faces for validation (docs/ablation.md says why), in both runs.
  run("--synthetic-size 48 --out " + (tmp / "defaults"));
  for (const char* part : {"aug-off", "aug-on"}) {
    const std::string config = minidl::data::testing::read_file(tmp / (std::string("defaults/") + part + "/config.json"));
    CHECK_THAT(config, Catch::Contains("\"width\": 32") && Catch::Contains("\"val_fraction\": 0.25") &&
                           Catch::Contains("\"batch_size\": 32") && Catch::Contains("\"epochs\": 1") && Catch::Contains("\"synthetic_size\": 48"));
  }
  // Given flags win.
  run("--synthetic-size 48 --width 4 --batch-size 8 --val-fraction 0.5 --out " + (tmp / "given"));
  const std::string config = minidl::data::testing::read_file(tmp / "given/aug-on/config.json");
  CHECK_THAT(config, Catch::Contains("\"width\": 4") && Catch::Contains("\"val_fraction\": 0.5") &&
                         Catch::Contains("\"batch_size\": 8"));
}
