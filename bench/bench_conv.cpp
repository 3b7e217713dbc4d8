// bench_conv: every distinct convolution of the FER model (resnet18(1, 7) at 1x64x64) at
// batch 64 and 256, forward, backward-data and backward-filter.
//
// Rows: each CPU convolution backend of the float32 table (kernels::cpu::conv_backends: im2col +
// OpenBLAS GEMM, taps, oneDNN where it loads) and auto, what training runs; and in a CUDA build
// with a GPU each CUDA backend (kernels::cuda::conv_backends: our implicit GEMM, cuDNN's best
// algorithm), under fp32 each again with TF32 allowed where the GPU has tensor cores ("tf32"
// rows, validated within 1e-2). Each version is first validated against the float64 reference backend on a small batch of
// the same geometry; then it is timed at the full batch: the median of repeated runs (the CPU),
// or a synchronised loop of launches (the GPU; kernels/ has no event API, and over >= 0.2 s the
// launch gaps do not matter). Columns: time, GFLOP/s (2 n k oh ow c r s per direction), and the
// ratio to the bar: on the CPU the machine's own SGEMM rate on a 1024^3 product measured in the
// same run (what the conv would reach if im2col and the layout shuffles were free), on the GPU
// cuDNN. "model share" is the geometry's share (times its count in the model) of the CPU's
// total convolution time for one training step (the stem's bwd-data is not part of it: the
// image needs no gradient).
//
//   bench_conv [--batch 64,256] [--min-time 0.2] [--threads N] [--dir fwd,bwd-data,bwd-filter]
//              [--gpu-peak-tflops 67] [--only N] [--gpu-only] [--precision fp32|bf16]
//
// --precision bf16: the operands are rounded to bf16 and the geometry says so
// (Conv2dGeometry::bf16_operands), as under the bf16 precision policy: oneDNN then runs its bf16
// kernels where the CPU has them, the others FP32 on the rounded values; the reference is the
// float64 result on the same rounded operands, so the tolerance stays FP32's. On the GPU the
// packed-bf16 entry points run (the implicit GEMM on NCHW bf16, cuDNN's tensor-core bf16 on
// channels-last bf16, whose bf16 results get a tolerance of 2^-7 instead).
//
// --gpu-only: the validation as always, then only the GPU timings (what scripts/gpu-check.sh
// runs: the CPU rows take minutes and are not what a GPU machine is lent for).
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "bench_common.h"
#include "minidl/config.h"
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/linear.h"
#include "minidl/models/resnet.h"
#if MINIDL_WITH_CUDA
#include "minidl/kernels/runtime.h"
#endif

using namespace minidl;
namespace mb = minidl::bench;
using mb::random_vector;
namespace kc = minidl::kernels::cpu;
using kernels::Conv2dGeometry;

namespace {

enum Dir { Fwd, BwdData, BwdFilter };
const char* kDirName[] = {"fwd", "bwd-data", "bwd-filter"};

struct Distinct {
  Conv2dGeometry g;  // batch filled per run
  int count;         // times it appears in the model
};

std::vector<Distinct> distinct_convs() {
  std::vector<Distinct> out;
  for (const auto& g : mb::resnet18_conv_geometries(1, 64, 64)) {
    bool found = false;
    for (auto& d : out)
      if (d.g.c == g.c && d.g.h == g.h && d.g.w == g.w && d.g.k == g.k && d.g.r == g.r && d.g.s == g.s &&
          d.g.stride_h == g.stride_h && d.g.pad_h == g.pad_h)
        ++d.count, found = true;
    if (!found) out.push_back({g, 1});
  }
  return out;
}

Conv2dGeometry with_batch(Conv2dGeometry g, std::int64_t n) {
  g.n = n;
  g.finalize();
  return g;
}

std::string describe(const Conv2dGeometry& g) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%lldx%lld s%lld %4lld->%-4lld @%lldx%lld", (long long)g.r, (long long)g.s,
                (long long)g.stride_h, (long long)g.c, (long long)g.k, (long long)g.h, (long long)g.w);
  return buf;
}

struct Buffers {
  std::vector<float> x, w, y, dy, dx, dw;
  explicit Buffers(const Conv2dGeometry& g, std::uint32_t seed) {
    std::mt19937 gen(seed);
    x = random_vector<float>(g.n * g.c * g.h * g.w, gen);
    w = random_vector<float>(g.k * g.c * g.r * g.s, gen);
    dy = random_vector<float>(g.n * g.k * g.oh * g.ow, gen);
    if (g.bf16_operands)
      for (auto* v : {&x, &w, &dy})
        for (float& e : *v) e = kernels::round_to_bf16(e);
    y.resize(dy.size());
    dx.resize(x.size());
    dw.resize(w.size());
  }
};

// The output of direction d.
const std::vector<float>& output(const Buffers& b, Dir d) { return d == Fwd ? b.y : d == BwdData ? b.dx : b.dw; }

void cpu_run(const Conv2dGeometry& g, Buffers& b, Dir d) {
  if (d == Fwd) kc::conv2d_forward<float>(kc::Stream{}, g, b.x.data(), b.w.data(), nullptr, b.y.data());
  else if (d == BwdData) kc::conv2d_backward_input<float>(kc::Stream{}, g, b.dy.data(), b.w.data(), b.dx.data(), false);
  else kc::conv2d_backward_weight<float>(kc::Stream{}, g, b.x.data(), b.dy.data(), b.dw.data(), false);
}

// The float64 reference output of direction d on b's inputs.
std::vector<double> reference(const Conv2dGeometry& g, const Buffers& b, Dir d) {
  const std::vector<double> x(b.x.begin(), b.x.end()), w(b.w.begin(), b.w.end()), dy(b.dy.begin(), b.dy.end());
  std::vector<double> out(output(b, d).size());
  const auto& ref = kc::find_conv_backend<double>("reference");
  if (d == Fwd) ref.forward(kc::Stream{}, g, x.data(), w.data(), nullptr, out.data());
  else if (d == BwdData) ref.backward_data(kc::Stream{}, g, dy.data(), w.data(), out.data(), false);
  else ref.backward_filter(kc::Stream{}, g, x.data(), dy.data(), out.data(), false);
  return out;
}

// max |got - ref| / max |ref|: float32 against float64, scaled by the output's magnitude.
double rel_error(const std::vector<float>& got, const std::vector<double>& ref) {
  double diff = 0, mag = 1e-30;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(got[i]) - ref[i]));
    mag = std::max(mag, std::abs(ref[i]));
  }
  return diff / mag;
}
constexpr double kTolerance = 1e-5;

// The CPU backends of the float32 table that run here (im2col first: the "vs im2col" column's
// base), without the reference loops (too slow to time), then benchmark (timed per geometry on
// first use) and auto (what training runs by default) last.
struct CpuVersion {
  std::string name;     // as printed
  std::string setting;  // for kernels::cpu::set_conv_backend
};
std::vector<CpuVersion> cpu_versions() {
  std::vector<CpuVersion> v;
  for (const auto& b : kc::conv_backends<float>())
    if (std::string(b.name) != "reference" && kc::conv_backend_available(b.name))
      v.push_back({std::string("cpu ") + b.name, b.name});
  v.push_back({"cpu benchmark", "benchmark"});
  v.push_back({"cpu auto", "auto"});
  return v;
}

// " -> taps": the backend the benchmark setting kept for (g, d); "" for the other settings.
std::string kept_by(const std::string& setting, const Conv2dGeometry& g, Dir d) {
  if (setting != "benchmark") return "";
  const kernels::ConvDirection dir = d == Fwd       ? kernels::ConvDirection::Forward
                                     : d == BwdData ? kernels::ConvDirection::BackwardData
                                                    : kernels::ConvDirection::BackwardFilter;
  kc::set_conv_backend("benchmark");
  const std::string name = kc::conv_backend_for<float>(dir, g).name;
  kc::set_conv_backend("auto");
  return " -> " + name;
}

// Runs each of fs in turn (after one warm-up each) until min_time has passed per function
// (at least 3 rounds), and returns each one's median: interleaving makes the speed drift of a
// shared machine hit every version alike.
std::vector<double> time_interleaved(const std::vector<std::function<void()>>& fs, double min_time) {
  for (const auto& f : fs) f();
  std::vector<std::vector<double>> t(fs.size());
  const double start = mb::now_s();
  for (int round = 0; round < 3 || (mb::now_s() - start < min_time * static_cast<double>(fs.size()) && round < 200);
       ++round)
    for (std::size_t i = 0; i < fs.size(); ++i) {
      const double t0 = mb::now_s();
      fs[i]();
      t[i].push_back(mb::now_s() - t0);
    }
  std::vector<double> out;
  for (auto& v : t) out.push_back(mb::median(v));
  return out;
}

template <typename F>
double time_median(F&& f, double min_time) {
  f();  // warm-up: scratch grown, caches and pages touched
  std::vector<double> t;
  const double start = mb::now_s();
  while (t.size() < 3 || (mb::now_s() - start < min_time && t.size() < 200)) {
    const double t0 = mb::now_s();
    f();
    t.push_back(mb::now_s() - t0);
  }
  return mb::median(t);
}

// The machine's SGEMM rate on 1024^3 (the CPU bar).
double cpu_gemm_bar(double min_time) {
  const std::int64_t n = 1024;
  std::mt19937 gen(3);
  const auto a = random_vector<float>(n * n, gen), b = random_vector<float>(n * n, gen);
  std::vector<float> c(static_cast<std::size_t>(n * n));
  const double sec = time_median(
      [&] { kc::gemm<float>(kc::Stream{}, false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n); },
                            min_time);
  return 2.0 * n * n * n / sec / 1e9;
}

#if MINIDL_WITH_CUDA
namespace cu = minidl::kernels::cuda;

// The operands on the GPU: float32, and under --precision bf16 packed bf16 in both orders
// (NCHW for the implicit GEMM, channels-last for cuDNN: kernels/conv2d.h), packed once here.
struct DeviceBuffers {
  float *x, *w, *y, *dy, *dx, *dw;
  std::size_t nx, nw, ny;
  kernels::bfloat16 *xb = nullptr, *wb = nullptr, *dyb = nullptr;           // NCHW
  kernels::bfloat16 *xb_cl = nullptr, *wb_cl = nullptr, *dyb_cl = nullptr;  // channels-last
  DeviceBuffers(const Conv2dGeometry& g, const Buffers& b, cu::Stream s)
      : nx(b.x.size()), nw(b.w.size()), ny(b.y.size()) {
    auto up = [&](const std::vector<float>& v) {
      float* p = static_cast<float*>(cu::malloc(v.size() * sizeof(float)));
      cu::memcpy_async(p, v.data(), v.size() * sizeof(float), cu::CopyKind::HostToDevice, s);
      return p;
    };
    x = up(b.x), w = up(b.w), dy = up(b.dy);
    y = static_cast<float*>(cu::malloc(ny * sizeof(float)));
    dx = static_cast<float*>(cu::malloc(nx * sizeof(float)));
    dw = static_cast<float*>(cu::malloc(nw * sizeof(float)));
    if (!g.bf16_operands) return;
    auto pack = [&](const float* src, std::int64_t n, std::int64_t c, std::int64_t hw, bool channels_last) {
      auto* p = static_cast<kernels::bfloat16*>(cu::malloc(std::size_t(n * c * hw) * sizeof(kernels::bfloat16)));
      if (channels_last)
        cu::to_bfloat16_channels_last(s, n, c, hw, src, p);
      else
        cu::to_bfloat16(s, n * c * hw, src, p);
      return p;
    };
    for (const bool cl : {false, true}) {
      (cl ? xb_cl : xb) = pack(x, g.n, g.c, g.h * g.w, cl);
      (cl ? wb_cl : wb) = pack(w, g.k, g.c_per_group(), g.r * g.s, cl);
      (cl ? dyb_cl : dyb) = pack(dy, g.n, g.k, g.oh * g.ow, cl);
    }
  }
  ~DeviceBuffers() {
    for (float* p : {x, w, y, dy, dx, dw}) cu::free(p);
    for (kernels::bfloat16* p : {xb, wb, dyb, xb_cl, wb_cl, dyb_cl})
      if (p) cu::free(p);
  }
  DeviceBuffers(const DeviceBuffers&) = delete;
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;
};

// One call of direction d on the selected backend. Under bf16 it runs the packed entry points in
// the order the selected backend reads, as conv2d does (the packing itself is not timed; cuDNN's
// widening of its bf16 result is).
void gpu_run(Conv2dGeometry g, DeviceBuffers& b, Dir d, cu::Stream s) {
  if (g.bf16_operands) {
    g.channels_last = cu::conv2d_bf16_channels_last(g);
    const kernels::bfloat16 *x = g.channels_last ? b.xb_cl : b.xb, *w = g.channels_last ? b.wb_cl : b.wb,
                            *dy = g.channels_last ? b.dyb_cl : b.dyb;
    if (d == Fwd) cu::conv2d_forward_bf16(s, g, x, w, nullptr, b.y);
    else if (d == BwdData) cu::conv2d_backward_input_bf16(s, g, dy, w, b.dx, false);
    else cu::conv2d_backward_weight_bf16(s, g, x, dy, b.dw, false);
    return;
  }
  if (d == Fwd) cu::conv2d_forward<float>(s, g, b.x, b.w, nullptr, b.y);
  else if (d == BwdData) cu::conv2d_backward_input<float>(s, g, b.dy, b.w, b.dx, false);
  else cu::conv2d_backward_weight<float>(s, g, b.x, b.dy, b.dw, false);
}

std::vector<float> gpu_output(DeviceBuffers& b, Dir d, cu::Stream s) {
  const float* p = d == Fwd ? b.y : d == BwdData ? b.dx : b.dw;
  std::vector<float> out(d == Fwd ? b.ny : d == BwdData ? b.nx : b.nw);
  cu::memcpy_async(out.data(), p, out.size() * sizeof(float), cu::CopyKind::DeviceToHost, s);
  cu::synchronize(0);
  return out;
}

// The GPU versions timed and validated: each backend of the table; under bf16 the implicit GEMM
// both on tensor cores ("implicit_gemm tc", where the GPU and the build have them) and on CUDA
// cores (kernels/conv2d.h, set_implicit_gemm_tensor_cores); under fp32, where the GPU has tensor
// cores, each backend again with TF32 allowed ("tf32": cuDNN's TF32 tensor-op algorithms, the
// implicit GEMM on tf32 tensor cores; kernels/runtime.h, set_allow_tf32). cuDNN first, so that
// the ratio column has its bar.
struct GpuVersion {
  std::string label;
  const char* backend;
  bool tensor_cores;
  bool tf32;
};
std::vector<GpuVersion> gpu_versions(bool bf16) {
  const bool tc = cu::implicit_gemm_tensor_cores();
  std::vector<GpuVersion> v;
  const auto& table = cu::conv_backends<float>();
  for (auto it = table.rbegin(); it != table.rend(); ++it) {
    const std::string name = it->name;
    if (bf16 && name == "implicit_gemm" && tc) v.push_back({name + " tc", it->name, true, false});
    v.push_back({name, it->name, name != "implicit_gemm" || !bf16, false});
    if (!bf16 && tc) v.push_back({name + " tf32", it->name, true, true});
  }
  return v;
}
void select(const GpuVersion& v) {
  cu::set_conv_backend(v.backend);
  cu::set_implicit_gemm_tensor_cores(v.tensor_cores);
  cu::set_allow_tf32(v.tf32);
}
void select_defaults(bool tensor_cores) {
  cu::set_conv_backend("auto");
  cu::set_implicit_gemm_tensor_cores(tensor_cores);
  cu::set_allow_tf32(false);
}

// The tolerance of a GPU version against the float64 reference on the same (rounded) operands:
// FP32's, except cuDNN under bf16, which rounds its results to bf16 (up to 2^-8 of each value:
// twice that, relative to the largest), and the tf32 rows, whose operands keep 10 of float32's
// 23 mantissa bits (each product off by up to about 2^-10 of itself, so sums by about 1e-3 of
// the largest value; a wrong layout or operand is O(1)).
double gpu_tolerance(const Conv2dGeometry& g, const GpuVersion& v) {
  if (v.tf32) return 1e-2;
  return g.bf16_operands && std::string(v.backend) == "cudnn" ? 1.0 / 128 : kTolerance;
}

double gpu_time(const Conv2dGeometry& g, DeviceBuffers& b, Dir d, double min_time) {
  const cu::Stream s = cu::stream(0);
  gpu_run(g, b, d, s);  // warm-up: algorithm search, workspace
  cu::synchronize(0);
  double t0 = mb::now_s();
  gpu_run(g, b, d, s);
  cu::synchronize(0);
  const int reps = std::max(3, static_cast<int>(min_time / std::max(1e-6, mb::now_s() - t0)));
  std::vector<double> samples;
  for (int rep = 0; rep < 3; ++rep) {
    t0 = mb::now_s();
    for (int i = 0; i < reps; ++i) gpu_run(g, b, d, s);
    cu::synchronize(0);
    samples.push_back((mb::now_s() - t0) / reps);
  }
  return mb::median(samples);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  std::vector<long long> batches{64, 256};
  std::vector<Dir> dirs{Fwd, BwdData, BwdFilter};
  double min_time = 0.2;
  [[maybe_unused]] double gpu_peak = 67.0;
  int only = -1;
  bool gpu_only = false;
  bool bf16 = false;
  for (mb::Args a{argc, argv}; a.i < argc; ++a.i) {
    const std::string f = a.flag();
    if (f == "--batch") batches = mb::parse_list(a.value());
    else if (f == "--min-time") min_time = std::stod(a.value());
    else if (f == "--threads") omp_set_num_threads(std::stoi(a.value()));
    else if (f == "--gpu-peak-tflops") gpu_peak = std::stod(a.value());
    else if (f == "--only") only = std::stoi(a.value());
    else if (f == "--gpu-only") gpu_only = true;
    else if (f == "--precision") {
      const std::string v = a.value();
      if (v != "fp32" && v != "bf16") {
        std::fprintf(stderr, "bench_conv: --precision %s: expected fp32 or bf16\n", v.c_str());
        return 2;
      }
      bf16 = v == "bf16";
    }
    else if (f == "--dir") {
      dirs.clear();
      const std::string v = a.value();
      for (int d = 0; d < 3; ++d)
        if (("," + v + ",").find("," + std::string(kDirName[d]) + ",") != std::string::npos) dirs.push_back(Dir(d));
    } else if (f == "--help" || f == "-h") {
      std::printf("bench_conv [--batch 64,256] [--min-time 0.2] [--threads N] [--dir fwd,bwd-data,bwd-filter] "
                  "[--gpu-peak-tflops 67] [--only INDEX] [--gpu-only] [--precision fp32|bf16]\n");
      return 0;
    } else a.unknown();
  }
  mb::print_machine("bench_conv");
  auto convs = distinct_convs();
  for (auto& d : convs) d.g.bf16_operands = bf16;
  std::printf("precision: %s\n", bf16 ? "bf16 operands (rounded; Conv2dGeometry::bf16_operands), FP32 results"
                                      : "fp32");
  const std::vector<CpuVersion> versions = cpu_versions();
  const double bar = gpu_only ? 0.0 : cpu_gemm_bar(min_time);
  std::printf("model: resnet18(1, 7) at 1x64x64: %zu distinct convolutions of 20\n", convs.size());
  if (gpu_only)
    std::printf("CPU rows: not timed (--gpu-only); the CPU versions are still validated\n");
  else
    std::printf("CPU bar: SGEMM 1024^3 through kernels::cpu::gemm = %.1f GFLOP/s on %d threads (this run)\n", bar,
                omp_get_max_threads());
  std::printf("CPU versions: im2col + GEMM (im2col), GEMMs per output position and tap run (taps)%s, and "
              "benchmark (each geometry and direction timed on first use; \"-> X\" is the backend it kept), "
              "auto (the default: the rule in kernels/cpu/conv2d.cpp, per direction and geometry)\n",
              kc::conv_backend_available("onednn") ? ", oneDNN (onednn)"
                                                   : "; oneDNN not available in this build or machine");
#if MINIDL_WITH_CUDA
  const bool gpu = cu::device_count() > 0;
  const bool tensor_cores = gpu && cu::implicit_gemm_tensor_cores();  // the setting to put back
  if (gpu && bf16)
    std::printf("GPU bf16: implicit_gemm %s\n",
                tensor_cores ? "on tensor cores (\"implicit_gemm tc\") and on CUDA cores (\"implicit_gemm\")"
                             : "on CUDA cores only (MINIDL_CUDA_TENSOR_CORES=0, or no bf16 tensor cores here)");
  if (gpu && !bf16)
    std::printf("GPU fp32: %s\n",
                tensor_cores ? "each backend strict FP32, and with TF32 allowed (\"tf32\": cuDNN's tensor-op "
                               "algorithms, the implicit GEMM on tf32 tensor cores; validated within 1e-2)"
                             : "strict FP32 only (MINIDL_CUDA_TENSOR_CORES=0, or no tensor cores here)");
  if (gpu)
    std::printf("GPU: %d device(s); ratio column = cuDNN time / this version's time; %% of an FP32 peak of %.0f "
                "TFLOP/s (--gpu-peak-tflops)\n", cu::device_count(), gpu_peak);
  else
    std::printf("GPU rows: not run (no GPU visible); they need a GPU\n");
#else
  std::printf("GPU rows: not run (this build has no CUDA backend; configure with -DMINIDL_CUDA=ON on a GPU machine)\n");
#endif

  // 1. Validation against the float64 reference, small batch (3: a ragged chunk on 2 threads).
  std::printf("\nvalidation against the reference backend (float64), batch 3: max |err| / max |ref|, tolerance %.0e\n",
              kTolerance);
  bool all_ok = true;
  for (std::size_t i = 0; i < convs.size(); ++i) {
    if (only >= 0 && static_cast<int>(i) != only) continue;
    const Conv2dGeometry g = with_batch(convs[i].g, 3);
    Buffers b(g, 100 + static_cast<std::uint32_t>(i));
    std::printf("  %-26s", describe(g).c_str());
    for (Dir d : dirs) {
      const auto ref = reference(g, b, d);
      std::printf("  %s:", kDirName[d]);
      for (const CpuVersion& v : versions) {
        kc::set_conv_backend(v.setting);
        cpu_run(g, b, d);
        const double e = rel_error(output(b, d), ref);
        all_ok = all_ok && e <= kTolerance;
        std::printf(" %s %.1e%s", v.name.c_str(), e, e > kTolerance ? " FAILED" : "");
      }
      kc::set_conv_backend("auto");
#if MINIDL_WITH_CUDA
      if (gpu) {
        const cu::Stream s = cu::stream(0);
        for (const GpuVersion& v : gpu_versions(bf16)) {
          select(v);
          DeviceBuffers db(g, b, s);
          gpu_run(g, db, d, s);
          const double ge = rel_error(gpu_output(db, d, s), ref), tol = gpu_tolerance(g, v);
          all_ok = all_ok && ge <= tol;
          std::printf("  %s %.1e%s", v.label.c_str(), ge, ge > tol ? " FAILED" : "");
        }
        select_defaults(tensor_cores);
      }
#endif
    }
    std::printf("\n");
  }
  std::printf("validation: %s\n", all_ok ? "all passed" : "FAILURES (timings below are of wrong kernels)");

  // 2. Timing at the full batch, the CPU versions interleaved (one run of each in turn).
  for (long long n : batches) {
    std::printf("\nbatch %lld  (time: median; GFLOP/s counts 2*n*k*oh*ow*c*r*s per direction; vs im2col: speed-up over "
                "im2col; bar: share of the SGEMM rate; share: of the step's conv time under auto)\n", n);
    std::printf("  %-26s %5s %-10s %-14s %11s %10s %8s %7s %8s\n", "conv", "count", "direction", "version", "time",
                "GFLOP/s", "vs im2col", "bar", "share");
    std::vector<std::tuple<std::size_t, Dir, std::vector<double>>> cpu_times;
    std::vector<double> totals(versions.size(), 0.0);
    for (std::size_t i = 0; i < convs.size(); ++i) {
      if (only >= 0 && static_cast<int>(i) != only) continue;
      const Conv2dGeometry g = with_batch(convs[i].g, n);
      Buffers b(g, 7 + static_cast<std::uint32_t>(i));
      for (Dir d : dirs) {
        std::vector<std::function<void()>> runs;
        for (const CpuVersion& v : versions)
          runs.push_back([&, setting = v.setting] {
            kc::set_conv_backend(setting);
            cpu_run(g, b, d);
          });
        const std::vector<double> secs =
            gpu_only ? std::vector<double>(versions.size(), 0.0) : time_interleaved(runs, min_time);
        kc::set_conv_backend("auto");
        cpu_times.emplace_back(i, d, secs);
        if (!(i == 0 && d == BwdData))
          for (std::size_t v = 0; v < versions.size(); ++v) totals[v] += secs[v] * convs[i].count;
      }
    }
    const std::size_t auto_v = versions.size() - 1;  // auto is listed last
    for (const auto& [i, d, secs] : cpu_times) {
      const Conv2dGeometry g = with_batch(convs[i].g, n);
      // The stem's input is the image, which needs no gradient: training never runs its bwd-data.
      const bool in_step = !(i == 0 && d == BwdData);
      for (std::size_t v = 0; v < versions.size() && !gpu_only; ++v) {
        const double gflops = g.forward_flops() / secs[v] / 1e9;
        std::printf("  %-26s %5s %-10s %-14s %8.3f ms %10.1f %7.2fx %6.0f%% %7.1f%%%s\n",
                    v == 0 ? describe(g).c_str() : "", v == 0 ? std::to_string(convs[i].count).c_str() : "",
                    v == 0 ? kDirName[d] : "", versions[v].name.c_str(), 1e3 * secs[v], gflops, secs[0] / secs[v],
                    100.0 * gflops / bar, v == auto_v && in_step ? 100.0 * secs[v] * convs[i].count / totals[v] : 0.0,
                    ((in_step ? std::string() : std::string(" (not in training)")) + kept_by(versions[v].setting, g, d)).c_str());
      }
#if MINIDL_WITH_CUDA
      if (gpu) {
        const cu::Stream s = cu::stream(0);
        Buffers b(g, 7 + static_cast<std::uint32_t>(i));
        DeviceBuffers db(g, b, s);
        cu::synchronize(0);
        double cudnn = 0;
        for (const GpuVersion& v : gpu_versions(bf16)) {
          select(v);
          const double t = gpu_time(g, db, d, min_time);
          if (std::string(v.backend) == "cudnn") cudnn = t;
          const double tflops = g.forward_flops() / t / 1e12;
          std::printf("  %-26s %5s %-10s %-22s %8.3f ms %10.1f %8.2fx %6.1f%% of peak\n",
                      gpu_only ? describe(g).c_str() : "", "", kDirName[d], ("gpu " + v.label).c_str(), 1e3 * t,
                      1e3 * tflops, cudnn > 0 ? cudnn / t : 0.0, 100.0 * tflops / gpu_peak);
        }
        select_defaults(tensor_cores);
      }
#endif
    }
    for (std::size_t v = 0; v < versions.size() && !gpu_only; ++v)
      std::printf("  %-13s: CPU convolution time of one training step (every conv x its count, 3 directions): "
                  "%7.1f ms, %6.1f images/s if convolutions were all\n",
                  versions[v].name.c_str(), 1e3 * totals[v], n / totals[v]);
    std::fflush(stdout);
  }
  return all_ok ? 0 : 1;
}
