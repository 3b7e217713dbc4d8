// The "benchmark" setting of the CPU convolutions (MINIDL_CPU_CONV=benchmark), the CPU's
// torch.backends.cudnn.benchmark: the first call of each direction and geometry times every
// backend that supports it on that call's operands and keeps the fastest for the life of the
// process, instead of asking the auto rule.
//
// Why: the auto rule's thresholds were measured on the CPUs this project ran on (an AVX2 and an
// AVX-512 machine), and the fastest backend of a geometry moves with the CPU, its oneDNN and
// its BLAS by 1.5 to 4x (docs/benchmarks.md). Timing on the user's machine needs no rule.
// The price: the first step of a new geometry runs each candidate three times (a few seconds
// for the FER model), and the choice can differ between runs, so results are not bit-identical
// from one run to the next (as with cuDNN's benchmark mode). Hence opt-in.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "minidl/kernels/cpu/conv2d_backends.h"

namespace minidl::kernels::cpu::benchmark {

namespace {

using Key = std::tuple<int, Conv2dGeometry::ShapeKey, bool, int>;  // direction, shape, bf16, threads

Key key_of(ConvDirection d, const Conv2dGeometry& g) {
  return {static_cast<int>(d), g.shape_key(), g.bf16_operands, omp_get_max_threads()};
}

struct Choices {
  std::mutex mu;
  std::map<Key, const ConvBackend<float>*> rows;
  std::int64_t timed = 0;
};

Choices& choices() {
  static Choices c;
  return c;
}

double seconds(const std::function<void(const ConvBackend<float>&)>& trial, const ConvBackend<float>& row) {
  const auto t0 = std::chrono::steady_clock::now();
  trial(row);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

const ConvBackend<float>* chosen(ConvDirection d, const Conv2dGeometry& g) {
  Choices& c = choices();
  std::lock_guard<std::mutex> lock(c.mu);
  const auto it = c.rows.find(key_of(d, g));
  return it == c.rows.end() ? nullptr : it->second;
}

const ConvBackend<float>& choose(ConvDirection d, const Conv2dGeometry& g,
                                 const std::function<void(const ConvBackend<float>&)>& trial) {
  const ConvBackend<float>* best = nullptr;
  double best_seconds = std::numeric_limits<double>::infinity();
  for (const ConvBackend<float>& row : conv_backends<float>()) {
    // The reference loops are the definition, never the fastest; the rest compete.
    if (std::string(row.name) == "reference" || !row.supports(d, g)) continue;
    // One untimed call first: it builds oneDNN's plan and grows the scratch buffers. Then the
    // faster of two calls, the second skipped for a backend already twice as slow as the best.
    const double warm = seconds(trial, row);
    double s = seconds(trial, row);
    if (s < 2 * best_seconds && warm < 4 * best_seconds) s = std::min(s, seconds(trial, row));
    if (s < best_seconds) best = &row, best_seconds = s;
  }
  // im2col supports every call, so there is always a row; a second thread that timed the same
  // key meanwhile keeps the first choice, so every call of a key runs one backend.
  Choices& c = choices();
  std::lock_guard<std::mutex> lock(c.mu);
  ++c.timed;
  return *c.rows.emplace(key_of(d, g), best ? best : &conv_backends<float>().front()).first->second;
}

std::int64_t timed() {
  Choices& c = choices();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.timed;
}

}  // namespace minidl::kernels::cpu::benchmark
