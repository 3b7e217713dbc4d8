// bench_train: end-to-end rates of the FER model (resnet18(1, 7) on 1x64x64): training
// images/s (forward, cross-entropy, backward, SGD momentum step), inference images/s (eval mode,
// no autograd) and batch-1 latency, with the warm-up excluded, and peak memory. The same
// figures, under the same JSON keys, come from bench/pytorch_reference.py; the driver
// bench/compare_pytorch.sh runs both, interleaved, and prints their ratios.
//
//   bench_train [--mode all|train|infer|latency] [--batch 64,256] [--steps 10] [--warmup 3]
//               [--threads N] [--device cpu|cuda|all] [--precision fp32|bf16|all] [--cuda-graph off|on|both]
//               [--json] [--profile]
//
// --precision: the forward passes and the loss run under AutocastGuard of that precision
// (core/precision.h), as train_resnet --precision does; "all" measures each in turn.
//
// Timing: each figure is the time of `steps` steps after `warmup` untimed ones; on a GPU the
// loop ends with a read of the loss (a device sync), so queued work is inside the timed span.
// Memory: minidl's caching-allocator peak (bytes handed to tensors; it is the process-wide
// high-water mark, so with --mode all the later figures include the earlier ones) and the
// process's peak resident set. Run one mode and batch per process (as the driver does) for
// figures that belong to that configuration alone.
//
// --cuda-graph: on a GPU, the training rows run the step as one captured CUDA graph, replayed
// (layers/graphed_step.h, as train_resnet --cuda-graph); "both" measures each way. The JSON
// "variant" names the precision and, with a graph, "+graph". CPU rows have no graph variant.
//
// --profile: time of each CPU kernel family inside the timed steps (see kernels/cpu/profile.h),
// to see where a step goes; on a GPU, the device time of each op family (kernels/cuda_profile.h:
// two CUDA events per op call, which the timed steps then include; a replayed graph has no ops).
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.h"
#include "minidl/core/allocator.h"
#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/core/precision.h"
#include "minidl/core/rng.h"
#include "minidl/config.h"
#include "minidl/kernels/cpu/profile.h"
#include "minidl/kernels/cuda_profile.h"  // declarations only: defined in CUDA builds
#include "minidl/layers/graphed_step.h"
#include "minidl/layers/loss.h"
#include "minidl/layers/optim.h"
#include "minidl/models/resnet.h"

using namespace minidl;
namespace mb = minidl::bench;

namespace {

constexpr std::int64_t kSize = 64, kClasses = 7;

struct Config {
  std::string mode = "all";
  std::vector<long long> batches{64, 256};
  int steps = 10, warmup = 3, latency_runs = 50;
  int threads = 0;
  std::string device = "cpu";
  std::vector<Precision> precisions{Precision::Float32};
  std::vector<bool> graphs{false};  // --cuda-graph: GPU training rows without and/or with a graph
  bool json = false, profile = false;
};

struct Result {
  std::string device, mode;
  Precision precision = Precision::Float32;
  bool graph = false;  // the step ran as a replayed CUDA graph
  long long batch = 0;
  int steps = 0;
  double images_per_sec = 0, ms_per_step_median = 0, ms_per_step_min = 0, seconds = 0;
  std::size_t peak_alloc_bytes = 0, max_rss_bytes = 0;
  std::vector<kernels::cpu::profile::Total> profile;  // summed over the timed steps
  std::vector<kernels::cuda::profile::Total> gpu_profile;  // GPU rows, summed over the timed steps
};

// --profile around the timed steps: the CPU kernels, and on a GPU the ops' device time.
void profile_begin(const Config& cfg, Device device) {
  kernels::cpu::profile::reset();
  kernels::cpu::profile::enable(cfg.profile);
#if MINIDL_WITH_CUDA
  if (device.is_cuda()) {
    kernels::cuda::profile::reset();
    kernels::cuda::profile::enable(cfg.profile);
  }
#else
  (void)device;
#endif
}
void profile_end(Result& r, Device device) {
  kernels::cpu::profile::enable(false);
  r.profile = kernels::cpu::profile::totals();
#if MINIDL_WITH_CUDA
  if (device.is_cuda()) {
    kernels::cuda::profile::enable(false);
    r.gpu_profile = kernels::cuda::profile::totals();
  }
#else
  (void)device;
  (void)r;
#endif
}

Tensor random_images(std::int64_t batch, Device device, std::uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn({batch, 1, kSize, kSize}, gen).to(device);
}

Tensor random_labels(std::int64_t batch, Device device, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<std::int64_t> y(static_cast<std::size_t>(batch));
  for (auto& v : y) v = static_cast<std::int64_t>(gen.randint(kClasses));
  return Tensor::from_vector(y).to(device);
}

std::size_t peak_alloc(Device device) { return allocator_for(device).stats().peak_bytes_in_use; }

void finish(Result& r, const std::vector<double>& step_s, Device device) {
  double total = 0, lo = 1e30;
  for (double s : step_s) total += s, lo = std::min(lo, s);
  r.steps = static_cast<int>(step_s.size());
  r.seconds = total;
  r.images_per_sec = static_cast<double>(r.batch) * r.steps / total;
  r.ms_per_step_median = 1e3 * mb::median(step_s);
  r.ms_per_step_min = 1e3 * lo;
  r.peak_alloc_bytes = peak_alloc(device);
  r.max_rss_bytes = mb::max_rss_bytes();
}

// On the CPU every step finishes before the clock is read. On a GPU the steps are queued; the
// per-step times are then launch times, and only the total (ending in a sync) is the rate.
Result bench_train(std::int64_t batch, Device device, Precision precision, bool graph, const Config& cfg) {
  manual_seed(1);
  auto model = resnet18(1, kClasses);
  model->to(device);
  model->train();
  SGD opt(model->named_parameters(), SGDOptions(0.01).momentum(0.9));
  CrossEntropyLoss loss_fn;
  const Tensor x = random_images(batch, device, 2), y = random_labels(batch, device, 3);
  auto train_step = [&](const Tensor& images, const Tensor& labels) {
    opt.zero_grad();
    Tensor loss;
    {
      AutocastGuard autocast(precision);
      loss = loss_fn(model->forward(images), labels);
    }
    loss.backward();
    opt.step();
    return loss;
  };
  // With a graph, the warm-up is GraphedStep's eager steps plus the call that captures (and
  // replays once), so every timed step is a replay; x and y are copied into its static inputs
  // at each call, as a training loop's batches would be.
  std::unique_ptr<GraphedStep> graphed;
  if (graph)
    graphed = std::make_unique<GraphedStep>(
        *model, opt, std::vector<Tensor>{x.clone(), y.clone()},
        [&](const std::vector<Tensor>& in) { return train_step(in[0], in[1]); }, std::max(1, cfg.warmup));
  auto step = [&] { return graphed ? (*graphed)({x, y}) : train_step(x, y); };
  for (int i = 0; i < cfg.warmup + (graph ? 1 : 0); ++i) step().item();
  if (graphed) MINIDL_CHECK(graphed->captures() == 1, "bench_train: the warm-up did not capture the step");
  profile_begin(cfg, device);
  std::vector<double> times;
  const double t0 = mb::now_s();
  double prev = t0;
  for (int i = 0; i < cfg.steps; ++i) {
    // The loss (and with it the step's graph and saved activations) dies at the end of the
    // iteration, as in a training loop: holding it would keep two steps' activations alive.
    const Tensor loss = step();
    if (device.is_cpu() || i + 1 == cfg.steps) loss.item();
    const double t = mb::now_s();
    times.push_back(t - prev);
    prev = t;
  }
  Result r;
  profile_end(r, device);
  r.device = device.str(), r.mode = "train", r.batch = batch, r.precision = precision, r.graph = graph;
  finish(r, times, device);
  if (graphed) MINIDL_CHECK(graphed->captures() == 1, "bench_train: the step was captured again while timed");
  if (!device.is_cpu()) r.images_per_sec = static_cast<double>(batch) * cfg.steps / (prev - t0);
  return r;
}

Result bench_infer(std::int64_t batch, Device device, Precision precision, const Config& cfg, bool latency) {
  manual_seed(1);
  auto model = resnet18(1, kClasses);
  model->to(device);
  model->eval();
  NoGradGuard no_grad;
  AutocastGuard autocast(precision);
  const Tensor x = random_images(batch, device, 2);
  const int steps = latency ? cfg.latency_runs : cfg.steps;
  for (int i = 0; i < cfg.warmup; ++i) model->forward(x).to_vector<float>();
  profile_begin(cfg, device);
  std::vector<double> times;
  const double t0 = mb::now_s();
  double prev = t0;
  for (int i = 0; i < steps; ++i) {
    const Tensor logits = model->forward(x);
    // Latency is per request, so every run waits for its answer; a throughput run only at the end.
    if (latency || device.is_cpu() || i + 1 == steps) logits.to_vector<float>();
    const double t = mb::now_s();
    times.push_back(t - prev);
    prev = t;
  }
  Result r;
  profile_end(r, device);
  r.device = device.str(), r.mode = latency ? "latency" : "infer", r.batch = batch, r.precision = precision;
  finish(r, times, device);
  if (!device.is_cpu() && !latency) r.images_per_sec = static_cast<double>(batch) * steps / (prev - t0);
  return r;
}

void print_human(const Result& r) {
  const double mib = 1024.0 * 1024.0;
  if (r.mode == "latency")
    std::printf("%-5s %-4s %-8s batch %4lld: %8.2f ms median latency (min %.2f, %d runs)      peak alloc %7.1f MiB, max RSS %7.1f MiB\n",
                r.device.c_str(), precision_name(r.precision), r.mode.c_str(), r.batch, r.ms_per_step_median, r.ms_per_step_min, r.steps,
                r.peak_alloc_bytes / mib, r.max_rss_bytes / mib);
  else
    std::printf("%-5s %-4s %-8s batch %4lld: %8.1f images/s (%.1f ms/step median, min %.1f, %d steps)  peak alloc %7.1f MiB, max RSS %7.1f MiB\n",
                r.device.c_str(), precision_name(r.precision), (r.graph ? r.mode + "+graph" : r.mode).c_str(), r.batch, r.images_per_sec, r.ms_per_step_median, r.ms_per_step_min,
                r.steps, r.peak_alloc_bytes / mib, r.max_rss_bytes / mib);
  if (!r.profile.empty()) {
    auto rows = r.profile;
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.wall_s > b.wall_s; });
    double wall = 0, cpu = 0;
    for (const auto& t : rows) wall += t.wall_s, cpu += t.cpu_s;
    const double step = r.ms_per_step_median, per = 1e3 / r.steps;
    std::printf("  profile per step, CPU kernels (wall ms, share of the median step; main thread's CPU ms; calls):\n");
    for (const auto& t : rows)
      std::printf("    %-30s %8.2f ms %5.1f%%   cpu %8.2f ms   %4ld calls\n", t.name.c_str(), t.wall_s * per,
                  100.0 * t.wall_s * per / step, t.cpu_s * per, t.calls / r.steps);
    std::printf("    %-30s %8.2f ms %5.1f%%   cpu %8.2f ms\n", "all kernels", wall * per, 100.0 * wall * per / step,
                cpu * per);
  }
  if (!r.gpu_profile.empty()) {
    // Shares of the wall time per step (the steps are queued, so that is the rate's own span).
    auto rows = r.gpu_profile;
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.gpu_s > b.gpu_s; });
    const double per = 1e3 / r.steps, step = r.seconds * per;
    double sum = 0;
    std::printf("  profile per step, GPU ops (device ms between each call's first and last work, share of the "
                "%.2f ms step; calls):\n", step);
    for (const auto& t : rows) {
      sum += t.gpu_s * per;
      std::printf("    %-30s %8.3f ms %5.1f%%   %4ld calls\n", t.name.c_str(), t.gpu_s * per,
                  100.0 * t.gpu_s * per / step, t.calls / r.steps);
    }
    std::printf("    %-30s %8.3f ms %5.1f%%\n", "all ops", sum, 100.0 * sum / step);
  }
  std::fflush(stdout);
}

void print_json(const Result& r, int threads) {
  const std::string variant = std::string(precision_name(r.precision)) + (r.graph ? "+graph" : "");
  std::printf("{\"framework\": \"minidl\", \"variant\": \"%s\", \"graph\": %s, \"device\": \"%s\", \"precision\": \"%s\", \"mode\": \"%s\", \"batch\": %lld, \"threads\": %d, "
              "\"steps\": %d, \"images_per_sec\": %.3f, \"ms_per_step_median\": %.4f, \"ms_per_step_min\": %.4f, "
              "\"peak_alloc_bytes\": %zu, \"max_rss_bytes\": %zu, \"load_average\": \"%s\"",
              variant.c_str(), r.graph ? "true" : "false", r.device.c_str(), precision_name(r.precision), r.mode.c_str(), r.batch,
              threads, r.steps, r.images_per_sec, r.ms_per_step_median, r.ms_per_step_min, r.peak_alloc_bytes,
              r.max_rss_bytes, mb::load_average().c_str());
  if (!r.profile.empty()) {
    std::printf(", \"profile_ms_per_step\": {");
    bool first = true;
    for (const auto& t : r.profile) {
      std::printf("%s\"%s\": %.4f", first ? "" : ", ", t.name.c_str(), 1e3 * t.wall_s / r.steps);
      first = false;
    }
    std::printf("}");
  }
  if (!r.gpu_profile.empty()) {
    std::printf(", \"gpu_profile_ms_per_step\": {");
    for (std::size_t i = 0; i < r.gpu_profile.size(); ++i)
      std::printf("%s\"%s\": %.4f", i ? ", " : "", r.gpu_profile[i].name.c_str(), 1e3 * r.gpu_profile[i].gpu_s / r.steps);
    std::printf("}");
  }
  std::printf("}\n");
  std::fflush(stdout);
}

void usage() {
  std::printf(
      "bench_train: training and inference rates of the FER model (resnet18(1, 7), 1x64x64 input)\n"
      "  --mode all|train|infer|latency   what to measure (default all)\n"
      "  --batch 64,256                   batch sizes for train and infer (latency is always batch 1)\n"
      "  --steps N                        timed steps per figure (default 10; latency: 5x as many runs)\n"
      "  --warmup N                       untimed steps first (default 3)\n"
      "  --threads N                      OpenMP threads (default: OMP_NUM_THREADS or all cores)\n"
      "  --device cpu|cuda|all            (default cpu; cuda needs a CUDA build and a GPU)\n"
      "  --precision fp32|bf16|all        autocast policy of the forward passes (default fp32)\n"
      "  --cuda-graph off|on|both         GPU training rows as a replayed CUDA graph (default off)\n"
      "  --json                           one JSON object per figure, nothing else\n"
      "  --profile                        time each CPU kernel family (on a GPU: each op's device time) inside the\n"
      "                                   timed steps\n");
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  try {
    for (mb::Args a{argc, argv}; a.i < argc; ++a.i) {
      const std::string f = a.flag();
      if (f == "--mode") cfg.mode = a.value();
      else if (f == "--batch") cfg.batches = mb::parse_list(a.value());
      else if (f == "--steps") cfg.steps = std::stoi(a.value());
      else if (f == "--warmup") cfg.warmup = std::stoi(a.value());
      else if (f == "--threads") cfg.threads = std::stoi(a.value());
      else if (f == "--device") cfg.device = a.value();
      else if (f == "--precision") {
        const std::string v = a.value();
        cfg.precisions = v == "all" ? std::vector<Precision>{Precision::Float32, Precision::BFloat16}
                                    : std::vector<Precision>{parse_precision(v, "--precision")};
      } else if (f == "--cuda-graph") {
        const std::string v = a.value();
        if (v == "off") cfg.graphs = {false};
        else if (v == "on") cfg.graphs = {true};
        else if (v == "both") cfg.graphs = {false, true};
        else throw std::runtime_error("--cuda-graph must be off, on or both, got '" + v + "'");
      } else if (f == "--json") cfg.json = true;
      else if (f == "--profile") cfg.profile = true;
      else if (f == "--help" || f == "-h") return usage(), 0;
      else a.unknown();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 2;
  }
  cfg.latency_runs = 5 * cfg.steps;
  if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
  const int threads = omp_get_max_threads();

  if (!cfg.json) {
    mb::print_machine("bench_train");
    for (Precision p : cfg.precisions)
      if (p == Precision::BFloat16 && (cfg.device == "cpu" || cfg.device == "all"))
        std::printf("note: %s\n", cpu_bf16_note().c_str());
    std::printf("model: resnet18(1, 7), input 1x%lldx%lld, %.3f GFLOP forward per image; SGD momentum 0.9; "
                "%d warm-up + %d timed steps; load average %s\n",
                static_cast<long long>(kSize), static_cast<long long>(kSize),
                resnet18(1, kClasses)->forward_flops(kSize, kSize) / 1e9, cfg.warmup, cfg.steps,
                mb::load_average().c_str());
  }
  std::vector<Device> devices;
  if (cfg.device == "cpu" || cfg.device == "all") devices.push_back(Device::cpu());
  if (cfg.device == "cuda" || cfg.device == "all") {
    if (cuda_built() && cuda_available()) devices.push_back(Device::cuda(0));
    else if (!cfg.json)
      std::printf("GPU rows: not run (%s)\n", cuda_built() ? "no GPU visible" : "this build has no CUDA backend");
  }
  if (!cfg.json && cfg.graphs.back() && cfg.device != "cuda" && cfg.device != "all")
    std::printf("note: --cuda-graph applies to GPU rows only; the CPU rows run as always\n");
  if (!cfg.json) std::printf("\n");
  const bool all = cfg.mode == "all";
  if (!all && cfg.mode != "train" && cfg.mode != "infer" && cfg.mode != "latency") {
    std::fprintf(stderr, "bench_train: --mode must be all, train, infer or latency\n");
    return 2;
  }
  try {
    for (const Device& d : devices)
      for (Precision p : cfg.precisions) {
        auto emit = [&](const Result& r) { cfg.json ? print_json(r, threads) : print_human(r); };
        // Smallest footprint first, so that the process-wide peaks of --mode all grow with each row.
        if (all || cfg.mode == "latency") emit(bench_infer(1, d, p, cfg, true));
        if (all || cfg.mode == "infer")
          for (long long b : cfg.batches) emit(bench_infer(b, d, p, cfg, false));
        if (all || cfg.mode == "train")
          for (long long b : cfg.batches)
            for (bool graph : cfg.graphs)
              if (!graph || d.is_cuda()) emit(bench_train(b, d, p, graph, cfg));
      }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
