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
#include <cstring>
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

// --cuda-graph: the same run with the step captured after two eager steps and replayed (3 of its
// 5 steps): the same losses and weights, bit for bit, since a replay runs the same kernels in the
// same order and the optimiser reads the learning rate each step writes to device memory. With
// the default one-cycle schedule and SGD, and with AdamW and warmup-cosine: rates that change
// every step, and AdamW's step count.
TEST_CASE("cuda: train_resnet --cuda-graph trains exactly as without it", "[cuda][training][apps][graph]") {
  if (minidl::test::no_gpu()) return;
  const std::string optimizer = GENERATE(as<std::string>{}, "sgd --schedule onecycle",
                                         "adamw --schedule warmup-cosine --warmup-epochs 0.5");
  INFO("--optimizer " << optimizer);
  const minidl::test::TempDir dir("cuda_graph_app");
  const std::string args =
      "--width 4 --input-size 32 --synthetic-size 160 --train-limit 80 --batch-size 16 --epochs 1 --workers 1 "
      "--aug off --seed 5 --clip-grad-norm 1 --quiet --device cuda --optimizer " + optimizer;
  const fs::path eager = dir.path() / "eager", graphed = dir.path() / "graphed";
  const auto e = minidl::test::run_app("train_resnet", args + " --out " + eager.string());
  INFO(e.out << e.err);
  REQUIRE(e.code == 0);
  const auto g = minidl::test::run_app("train_resnet", args + " --cuda-graph --out " + graphed.string());
  INFO(g.out << g.err);
  REQUIRE(g.code == 0);
  const auto me = minidl::test::parse_csv(minidl::test::read_file((eager / "metrics.csv").string()));
  const auto mg = minidl::test::parse_csv(minidl::test::read_file((graphed / "metrics.csv").string()));
  REQUIRE(me.size() == 2);
  REQUIRE(mg.size() == me.size());
  for (std::size_t c = 0; c < me[0].size(); ++c) {
    if (me[0][c].find("loss") == std::string::npos && me[0][c].find("acc") == std::string::npos) continue;
    INFO(me[0][c]);
    CHECK(mg[1][c] == me[1][c]);
  }
  const auto we = minidl::load_safetensors((eager / "last.safetensors").string());
  const auto wg = minidl::load_safetensors((graphed / "last.safetensors").string());
  REQUIRE(we.tensors.size() == wg.tensors.size());
  for (const auto& [name, t] : we.tensors) {
    const auto& u = wg.tensors.at(name);
    INFO(name);
    REQUIRE(u.nbytes() == t.nbytes());
    CHECK(std::memcmp(u.raw_data(), t.raw_data(), t.nbytes()) == 0);
  }
}

TEST_CASE("train_resnet --cuda-graph refuses what it cannot capture, saying why", "[apps][graph]") {
  const minidl::test::TempDir dir("cuda_graph_misuse");
  const std::string args = "--width 4 --input-size 32 --synthetic-size 40 --epochs 1 --workers 0 --quiet --out " +
                           (dir.path() / "run").string() + " --cuda-graph";
  const auto cpu = minidl::test::run_app("train_resnet", args + " --schedule step --device cpu");
  CHECK(cpu.code != 0);
  CHECK_THAT(cpu.err, Catch::Matchers::Contains("--cuda-graph captures the training step on a GPU; the run is on cpu"));
}

TEST_CASE("cuda: a bad MINIDL_CUDA_TENSOR_CORES stops train_resnet with a message naming it", "[cuda][apps][bf16]") {
  if (minidl::test::no_gpu()) return;
  const minidl::test::TempDir dir("cuda_tc_env");
  // bf16 on the implicit GEMM: the first bf16 convolution reads the variable.
  const std::string args = "--width 4 --input-size 32 --synthetic-size 160 --train-limit 16 --batch-size 16 "
                           "--epochs 1 --workers 1 --aug off --quiet --device cuda --precision bf16 --out " +
                           (dir.path() / "run").string();
  const auto bad = minidl::test::run_app("train_resnet", args,
                                         "export MINIDL_CUDA_CONV=implicit_gemm MINIDL_CUDA_TENSOR_CORES=yes");
  INFO(bad.out << bad.err);
  CHECK(bad.code != 0);
  CHECK(bad.err.find("MINIDL_CUDA_TENSOR_CORES='yes': expected 0") != std::string::npos);
}
