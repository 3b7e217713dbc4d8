// train_resnet --device cuda against --device cpu: one short epoch of a narrow model (4 steps),
// the same losses and the same final weights within the parity tolerances of the training-step
// test. (Longer runs drift apart as training amplifies rounding differences: after 8 steps the
// validation loss of this model differs by 2e-3 relative.) Skipped (a counted
// skip, tests/support/support.h) without a GPU; runs under the CUDA emulator (tools/cuda_emu).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "minidl/core/device.h"
#include "minidl/core/safetensors.h"
#include "app_run.h"
#include "support.h"

namespace fs = std::filesystem;

TEST_CASE("cuda: train_resnet --device cuda trains a narrow model as the CPU does", "[cuda][training][apps]") {
  if (minidl::test::no_gpu()) return;
  const minidl::test::TempDir dir("cuda_app");
  // 4 steps of 16 images on a width-4 model at 32x32, then the validation pass.
  const std::string args =
      "--width 4 --input-size 32 --synthetic-size 160 --train-limit 64 --batch-size 16 --epochs 1 --workers 1 "
      "--aug off --seed 5 --quiet";
  const fs::path cpu = dir.path() / "cpu", gpu = dir.path() / "cuda";
  const auto on_cpu = minidl::test::run_app("train_resnet", args + " --device cpu --out " + cpu.string());
  INFO(on_cpu.out << on_cpu.err);
  REQUIRE(on_cpu.code == 0);
  const auto on_gpu = minidl::test::run_app("train_resnet", args + " --device cuda --out " + gpu.string());
  INFO(on_gpu.out << on_gpu.err);
  REQUIRE(on_gpu.code == 0);

  // Every loss column, epoch by epoch.
  const auto mc = minidl::test::parse_csv(minidl::test::read_file((cpu / "metrics.csv").string()));
  const auto mg = minidl::test::parse_csv(minidl::test::read_file((gpu / "metrics.csv").string()));
  REQUIRE(mc.size() == 2);  // header + 1 epoch
  REQUIRE(mg.size() == mc.size());
  REQUIRE(mg[0] == mc[0]);
  int compared = 0;
  for (std::size_t c = 0; c < mc[0].size(); ++c) {
    if (mc[0][c].find("loss") == std::string::npos) continue;
    for (std::size_t r = 1; r < mc.size(); ++r) {
      const double want = std::stod(mc[r][c]), got = std::stod(mg[r][c]);
      INFO(mc[0][c] << " epoch " << r << ": cpu " << want << ", cuda " << got);
      CHECK(std::abs(got - want) <= 1e-3 * std::max(1.0, std::abs(want)));
      ++compared;
    }
  }
  CHECK(compared >= 2);  // train and validation

  // The final weights and batch-norm buffers.
  const auto wc = minidl::load_safetensors((cpu / "last.safetensors").string());
  const auto wg = minidl::load_safetensors((gpu / "last.safetensors").string());
  REQUIRE(wc.tensors.size() == wg.tensors.size());
  double worst = 0;
  for (const auto& [name, t] : wc.tensors) {
    const auto& u = wg.tensors.at(name);
    REQUIRE(u.numel() == t.numel());
    if (t.dtype() != minidl::DType::Float32) continue;
    const auto x = u.to_vector<float>(), y = t.to_vector<float>();
    double num = 0, den = 1e-12;
    for (std::size_t i = 0; i < x.size(); ++i) {
      num = std::max(num, double(std::abs(x[i] - y[i])));
      den = std::max(den, double(std::abs(y[i])));
    }
    INFO(name << ": relative error " << num / den);
    CHECK(num / den < 1e-3);
    worst = std::max(worst, num / den);
  }
  std::printf("train_resnet --device cuda: worst weight relative error after 4 steps %.3g\n", worst);
}
