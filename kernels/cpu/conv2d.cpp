// Convolution on the CPU: the table of backends (each in its own file: conv2d_im2col.cpp,
// conv2d_taps.cpp, conv2d_onednn.cpp, conv2d_ref.cpp), which one runs a call (the setting, and
// the auto rule with its measured thresholds), and the entry points core/ops calls.
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/conv2d_table.h"
#include "minidl/kernels/cpu/conv2d_backends.h"
#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

namespace {

using detail::kParallelGrain;

template <typename T>
std::vector<ConvBackend<T>> make_table() {
  std::vector<ConvBackend<T>> t = {im2col::backend<T>(), taps::backend<T>()};
  if constexpr (std::is_same_v<T, float>) t.push_back(onednn::backend());
  t.push_back(ref::backend<T>());
  return t;
}

// The auto rule, from bench_conv's timings of the FER model's convolutions (docs/benchmarks.md
// gives the figures; the thresholds live here only). oneDNN's kernels differ by instruction set,
// and so does the rule: measured once on CPUs with AVX2 only and once with AVX-512.
//
// Both: when each weight is used fewer than 64 times (batch x output positions: the last stages
// at batch 1 to 4), im2col, which reads the weights once; oneDNN first reorders them into its
// blocked layout and taps transposes them, which costs more than the arithmetic there. And
// backward-data of a convolution with few input channels (the stem, whose input needs no
// gradient in training anyway): im2col, where oneDNN's kernel is 4 to 9x slower.
//
// AVX-512 (2026-12-02, AMD EPYC with AVX-512 BF16, batch 64): oneDNN everywhere else, except
// kernels larger than 1x1 on output maps of at most 4 positions (ResNet's last stage) from batch
// 16, where taps, which skips the padding taps, wins backward-filter by 1.4 to 2.3x (FP32 and
// bf16) and FP32 backward-data by 1.15 to 1.25x; oneDNN's bf16 backward-data beats it there.
// 1x1 convolutions run 1.3 to 2.3x faster on oneDNN than on im2col.
//
// AVX2 only (2026-11/12, batch 1 to 256):
// - backward-filter of an input with fewer than 8 channels (the stem): im2col. oneDNN's AVX2
//   kernel pads the channels to its 8-channel block, so it does 8x the work on the 1-channel
//   stem: 20.8 ms against im2col's 4.8 ms at batch 64, 4.4x slower at batch 1, 16 and 256 too
//   (2026-12-03, AMD EPYC with AVX2, 2 threads, bench_conv --dir bwd-filter --only 0);
// - kernels larger than 1x1 on output maps of at most 16 positions (ResNet's last two stages),
//   where oneDNN's kernels lose to both GEMM paths (2026-12-03, AMD EPYC with AVX2, 2 threads,
//   bench_conv --batch 16,32,64,128,256 --only 5|6|8; docs/benchmarks.md):
//   - stride 1: taps from batch 64 (4 positions: from 32), 1.2 to 1.5x faster than oneDNN
//     forward at batch 64 and 256; backward-filter taps from batch 16, im2col below;
//   - strided (the downsampling 3x3s): im2col, forward and backward-data 1.15 to 1.7x faster
//     than oneDNN at batch 16 to 256; backward-filter onto 4x4 ties oneDNN at batch 32 and is
//     1.1 to 1.2x faster above (oneDNN wins at 16 by 1.2x; taps was 1.5x slower at 64). Onto
//     2x2: backward-filter taps (1.5 to 2.2x faster than im2col), and from batch 128 forward and
//     backward-data taps too (1.15x at backward-data; forward within 6%);
// - 1x1 kernels (the downsampling shortcuts): im2col, whose "im2col" is then a strided copy;
//   over the model's three, as fast as oneDNN at batch 64 and 1.25x faster at batch 256;
// - otherwise oneDNN.
// Where oneDNN cannot run (not built, not loadable, a geometry it declines), the fallback rule
// of every entry point runs im2col.
const char* choose(ConvDirection d, const Conv2dGeometry& g) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const std::int64_t positions = g.oh * g.ow;
  if (g.n * positions < 64) return "im2col";
  if (d == ConvDirection::BackwardData && g.c < 8) return "im2col";
  if (avx512) {
    const bool small_map = g.r * g.s > 1 && positions <= 4 && g.n >= 16;
    if (small_map && (d == ConvDirection::BackwardFilter || (d == ConvDirection::BackwardData && !g.bf16_operands)))
      return "taps";
    return "onednn";
  }
  if (d == ConvDirection::BackwardFilter && g.c_per_group() < 8) return "im2col";
  if (g.r * g.s > 1 && positions <= 16) {
    const bool strided = g.stride_h * g.stride_w > 1;
    if (d == ConvDirection::BackwardFilter) return strided && positions > 4 ? "im2col" : g.n >= 16 ? "taps" : "im2col";
    if (strided) return positions <= 4 && g.n >= 128 ? "taps" : "im2col";
    if (g.n >= 64 || (positions <= 4 && g.n >= 32)) return "taps";
  }
  if (g.r * g.s == 1) return "im2col";
  return "onednn";
}

// The setting that times the backends instead of asking choose() (conv2d_benchmark.cpp).
const char* const kBenchmark = "benchmark";

// What a setting may say, for error messages.
std::string setting_names() { return conv_table::names(conv_backends<float>()) + ", " + kBenchmark; }

// A name of the float table whose backend can run in this process, as a pointer into the table
// (or kAuto, kBenchmark); throws otherwise. `what` says where the name came from (a call or the
// environment variable).
const char* checked_name(const char* name, const char* what) {
  if (std::strcmp(name, conv_table::kAuto) == 0) return conv_table::kAuto;
  if (std::strcmp(name, kBenchmark) == 0) return kBenchmark;
  const auto& table = conv_backends<float>();
  if (std::strcmp(name, "gemm") == 0 || std::strcmp(name, "dnnl") == 0)
    MINIDL_FAIL(what, "'", name, "': the CPU convolution backends were renamed; use ",
                std::strcmp(name, "gemm") == 0 ? "im2col" : "onednn", " (one of ", setting_names(), ")");
  const ConvBackend<float>* b = conv_table::find(table, name);
  MINIDL_CHECK(b, what, "'", name, "': expected one of ", setting_names());
  MINIDL_CHECK(conv_backend_available(name), what, "'", name, "': this backend cannot run here",
               std::strcmp(name, "onednn") == 0 ? " (" + onednn::unavailable_reason() +
                                                      "; build with libdnnl-dev installed, and libdnnl.so.2 must "
                                                      "load at run time)"
                                                : std::string());
  return b->name;
}

conv_table::Setting& setting() {
  static conv_table::Setting s("MINIDL_CPU_CONV", checked_name);
  return s;
}

}  // namespace

template <typename T>
const std::vector<ConvBackend<T>>& conv_backends() {
  static const std::vector<ConvBackend<T>> table = make_table<T>();
  return table;
}

template <typename T>
const ConvBackend<T>& find_conv_backend(const std::string& name) {
  const ConvBackend<T>* b = conv_table::find(conv_backends<T>(), name.c_str());
  MINIDL_CHECK(b, "conv2d: no CPU convolution backend '", name, "' for this element type");
  return *b;
}

bool conv_backend_available(const std::string& name) {
  // A 1x1 convolution of one value: what every backend that can run at all accepts.
  Conv2dGeometry probe{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  probe.finalize();
  const ConvBackend<float>* b = conv_table::find(conv_backends<float>(), name.c_str());
  return b && b->supports(ConvDirection::Forward, probe);
}

void set_conv_backend(const std::string& name) { setting().set(name); }

std::string conv_backend() { return setting().get(); }

// float64 (the gradient checks) always runs the fallback: the setting names float backends.
// Under "benchmark", the row timed fastest for the call's key, or the auto rule's before the
// key's first call has timed them.
template <typename T>
const ConvBackend<T>& conv_backend_for(ConvDirection d, const Conv2dGeometry& g) {
  if constexpr (!std::is_same_v<T, float>) {
    return conv_backends<T>().front();
  } else {
    const char* s = setting().get();
    if (s == kBenchmark) {
      if (const ConvBackend<float>* row = benchmark::chosen(d, g)) return *row;
      s = conv_table::kAuto;
    }
    return conv_table::row_for(conv_backends<T>(), s, choose, d, g);
  }
}

std::int64_t conv_benchmark_timed() { return benchmark::timed(); }

namespace {

std::int64_t input_size(const Conv2dGeometry& g) { return g.n * g.c * g.h * g.w; }
std::int64_t weight_size(const Conv2dGeometry& g) { return g.k * g.c_per_group() * g.r * g.s; }
std::int64_t output_size(const Conv2dGeometry& g) { return g.n * g.k * g.oh * g.ow; }

// Runs direction d on the backend conv_backend_for() names, handing `call` that row and the two
// operands (x and weight forward; dy and weight backward-data; x and dy backward-filter) as the
// backend must see them. Under the precision policy (g.bf16_operands) a backend that runs FP32
// arithmetic gets them rounded to bf16, in scratch; oneDNN with a bf16 plan gets them as they
// are and rounds them in its reorder (to nearest even, as round_to_bf16 does; the two differ
// only for denormals, which oneDNN's conversion flushes to zero).
template <typename T, typename Call>
void run_on(const ConvBackend<T>& row, ConvDirection d, const Conv2dGeometry& g, const T* a, const T* b, T* out,
            bool accumulate, Call call) {
  if constexpr (std::is_same_v<T, float>) {
    if (g.bf16_operands && !(std::strcmp(row.name, "onednn") == 0 && onednn::runs_bf16(d, g))) {
      const std::int64_t na = d == ConvDirection::BackwardData ? output_size(g) : input_size(g);
      const std::int64_t nb = d == ConvDirection::BackwardFilter ? output_size(g) : weight_size(g);
      float* ra = detail::scratch<float>(detail::Scratch::Bf16In0, na);
      float* rb = detail::scratch<float>(detail::Scratch::Bf16In1, nb);
      round_to_bf16(Stream{}, na, a, ra);
      round_to_bf16(Stream{}, nb, b, rb);
      return call(row, ra, rb, out, accumulate);
    }
  }
  call(row, a, b, out, accumulate);
}

// Runs direction d on the backend conv_backend_for() names. Under "benchmark", the first call
// of a key first runs every candidate backend on these operands into a result of its own (the
// caller's result may be accumulated into, so it is not touched) and keeps the fastest.
template <typename T, typename Call>
void run(ConvDirection d, const Conv2dGeometry& g, const T* a, const T* b, T* out, bool accumulate, Call call) {
  if constexpr (std::is_same_v<T, float>) {
    if (setting().get() == kBenchmark) {
      const ConvBackend<float>* row = benchmark::chosen(d, g);
      if (!row) {
        const std::int64_t n = d == ConvDirection::Forward        ? output_size(g)
                               : d == ConvDirection::BackwardData ? input_size(g)
                                                                  : weight_size(g);
        std::vector<float> trial_out(static_cast<std::size_t>(n));
        row = &benchmark::choose(d, g, [&](const ConvBackend<float>& candidate) {
          run_on(candidate, d, g, a, b, trial_out.data(), false, call);
        });
      }
      return run_on(*row, d, g, a, b, out, accumulate, call);
    }
  }
  run_on(conv_backend_for<T>(d, g), d, g, a, b, out, accumulate, call);
}

}  // namespace

template <typename T>
void conv2d_forward(Stream s, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y) {
  MINIDL_CPU_PROFILE("conv2d_forward");
  run(ConvDirection::Forward, g, x, weight, y, false,
      [&](auto& row, const T* a, const T* b, T* out, bool) { row.forward(s, g, a, b, bias, out); });
}

template <typename T>
void conv2d_backward_input(Stream s, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("conv2d_backward_input");
  run(ConvDirection::BackwardData, g, dy, weight, dx, accumulate,
      [&](auto& row, const T* a, const T* b, T* out, bool acc) { row.backward_data(s, g, a, b, out, acc); });
}

template <typename T>
void conv2d_backward_weight(Stream s, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate) {
  MINIDL_CPU_PROFILE("conv2d_backward_weight");
  run(ConvDirection::BackwardFilter, g, x, dy, dweight, accumulate,
      [&](auto& row, const T* a, const T* b, T* out, bool acc) { row.backward_filter(s, g, a, b, out, acc); });
}

// dbias[k] = sum of dy over images and positions. Each channel is summed by one thread in a
// fixed order, so the result does not depend on the thread count.
template <typename T>
void conv2d_backward_bias(Stream, const Conv2dGeometry& g, const T* dy, T* dbias, bool accumulate) {
  MINIDL_CPU_PROFILE("conv2d_backward_bias");
  const std::int64_t ohw = g.oh * g.ow;
#pragma omp parallel for schedule(static) if (g.n * g.k * ohw >= kParallelGrain)
  for (std::int64_t k = 0; k < g.k; ++k) {
    T acc = T(0);
    for (std::int64_t b = 0; b < g.n; ++b) {
      const T* p = dy + (b * g.k + k) * ohw;
#pragma omp simd reduction(+ : acc)
      for (std::int64_t j = 0; j < ohw; ++j) acc += p[j];
    }
    dbias[k] = accumulate ? dbias[k] + acc : acc;
  }
}

#define MINIDL_INSTANTIATE(T)                                                                                          \
  template const std::vector<ConvBackend<T>>& conv_backends<T>();                                                      \
  template const ConvBackend<T>& find_conv_backend<T>(const std::string&);                                             \
  template const ConvBackend<T>& conv_backend_for<T>(ConvDirection, const Conv2dGeometry&);                            \
  template void conv2d_forward<T>(Stream, const Conv2dGeometry&, const T*, const T*, const T*, T*);                    \
  template void conv2d_backward_input<T>(Stream, const Conv2dGeometry&, const T*, const T*, T*, bool);                 \
  template void conv2d_backward_weight<T>(Stream, const Conv2dGeometry&, const T*, const T*, T*, bool);                \
  template void conv2d_backward_bias<T>(Stream, const Conv2dGeometry&, const T*, T*, bool);
MINIDL_INSTANTIATE(float)
MINIDL_INSTANTIATE(double)
#undef MINIDL_INSTANTIATE

}  // namespace minidl::kernels::cpu
