// Convolution on the CPU: the table of backends (each in its own file: conv2d_im2col.cpp,
// conv2d_taps.cpp, conv2d_onednn.cpp, conv2d_ref.cpp), which one runs a call (the setting, and
// the auto rule with its measured thresholds), and the entry points core/ops calls.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "minidl/base/error.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/cpu/conv2d_backends.h"
#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

namespace {

using detail::kParallelGrain;

bool every_call(ConvDirection, const Conv2dGeometry&) { return true; }

template <typename T>
std::vector<ConvBackend<T>> make_table() {
  std::vector<ConvBackend<T>> t = {
      {"im2col", every_call, im2col::forward<T>, im2col::backward_data<T>, im2col::backward_filter<T>},
      {"taps", every_call, taps::forward<T>, taps::backward_data<T>, taps::backward_filter<T>}};
  if constexpr (std::is_same_v<T, float>)
    t.push_back({"onednn", onednn::supports, onednn::forward, onednn::backward_data, onednn::backward_filter});
  t.push_back({"reference", every_call, ref::forward<T>, ref::backward_data<T>, ref::backward_filter<T>});
  return t;
}

// The auto rule, from bench_conv and timings of the FER model's convolutions at batch 1 to 256
// (docs/benchmarks.md gives the figures; the thresholds live here only):
// - when each weight is used fewer than 64 times (batch x output positions: the last stages at
//   batch 1 to 4), im2col, which reads the weights once; oneDNN first reorders them into its
//   blocked layout and taps transposes them, which costs more than the arithmetic there;
// - kernels larger than 1x1 on output maps of at most 4 positions (ResNet's last stage) at batch
//   32 and more: taps, which skips the padding taps (more than half of a 3x3 kernel's on a 2x2
//   map); and their backward-filter on maps of up to 16 positions, where oneDNN's is 3 to 4x
//   slower than the others at every batch size: taps from batch 16, im2col below;
// - 1x1 kernels (the downsampling shortcuts): im2col, whose "im2col" is then a strided copy;
//   over the model's three, as fast as oneDNN at batch 64 and 1.25x faster at batch 256;
// - otherwise oneDNN, except backward-data of a convolution with few input channels (the stem,
//   whose input needs no gradient in training anyway), where its kernel is 7 to 9x slower.
// Where oneDNN cannot run (not built, not loadable, a geometry it declines), the fallback rule
// of every entry point runs im2col.
const char* choose(ConvDirection d, const Conv2dGeometry& g) {
  const std::int64_t positions = g.oh * g.ow;
  if (g.n * positions < 64) return "im2col";
  if (g.r * g.s > 1) {
    if (positions <= 4 && g.n >= 32) return "taps";
    if (d == ConvDirection::BackwardFilter && positions <= 16) return g.n >= 16 ? "taps" : "im2col";
  }
  if (g.r * g.s == 1 || (d == ConvDirection::BackwardData && g.c < 8)) return "im2col";
  return "onednn";
}

const char* const kAuto = "auto";

std::string names_of_float_backends() {
  std::string out = kAuto;
  for (const auto& b : conv_backends<float>()) out += std::string(", ") + b.name;
  return out;
}

// The float table's backend named `name` that can run in this process; throws otherwise. `what`
// names where the name came from (a call or the environment variable).
const char* checked_name(const char* name, const char* what) {
  if (std::strcmp(name, kAuto) == 0) return kAuto;
  if (std::strcmp(name, "gemm") == 0 || std::strcmp(name, "dnnl") == 0)
    MINIDL_FAIL(what, "'", name, "': the CPU convolution backends were renamed; use ",
                std::strcmp(name, "gemm") == 0 ? "im2col" : "onednn", " (one of ", names_of_float_backends(), ")");
  for (const auto& b : conv_backends<float>())
    if (std::strcmp(b.name, name) == 0) {
      MINIDL_CHECK(conv_backend_available(name), what, "'", name, "': this backend cannot run here",
                   std::strcmp(name, "onednn") == 0
                       ? " (oneDNN: build with libdnnl-dev installed; libdnnl.so.2 must load at run time)"
                       : "");
      return b.name;
    }
  MINIDL_FAIL(what, "'", name, "': expected one of ", names_of_float_backends());
}

// The setting, a pointer to a name of the float table (or kAuto): compared by address per call.
std::atomic<const char*>& setting() {
  static std::atomic<const char*> s{[] {
    const char* v = std::getenv("MINIDL_CPU_CONV");
    return v && *v ? checked_name(v, "MINIDL_CPU_CONV=") : kAuto;
  }()};
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
  for (const auto& b : conv_backends<T>())
    if (name == b.name) return b;
  MINIDL_FAIL("conv2d: no CPU convolution backend '", name, "' for this element type");
}

bool conv_backend_available(const std::string& name) {
  // A 1x1 convolution of one value: what every backend that can run at all accepts.
  Conv2dGeometry probe{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  probe.finalize();
  for (const auto& b : conv_backends<float>())
    if (name == b.name) return b.supports(ConvDirection::Forward, probe);
  return false;
}

void set_conv_backend(const std::string& name) { setting().store(checked_name(name.c_str(), "set_conv_backend: ")); }

std::string conv_backend() { return setting().load(); }

template <typename T>
const ConvBackend<T>& conv_backend_for(ConvDirection d, const Conv2dGeometry& g) {
  const auto& table = conv_backends<T>();
  if constexpr (!std::is_same_v<T, float>) return table.front();
  const char* chosen = setting().load(std::memory_order_relaxed);
  if (chosen == kAuto) chosen = choose(d, g);
  for (const auto& b : table)
    if (std::strcmp(b.name, chosen) == 0) return b.supports(d, g) ? b : table.front();
  return table.front();
}

template <typename T>
void conv2d_forward(Stream s, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y) {
  MINIDL_CPU_PROFILE("conv2d_forward");
  conv_backend_for<T>(ConvDirection::Forward, g).forward(s, g, x, weight, bias, y);
}

template <typename T>
void conv2d_backward_input(Stream s, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("conv2d_backward_input");
  conv_backend_for<T>(ConvDirection::BackwardData, g).backward_data(s, g, dy, weight, dx, accumulate);
}

template <typename T>
void conv2d_backward_weight(Stream s, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate) {
  MINIDL_CPU_PROFILE("conv2d_backward_weight");
  conv_backend_for<T>(ConvDirection::BackwardFilter, g).backward_filter(s, g, x, dy, dweight, accumulate);
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
