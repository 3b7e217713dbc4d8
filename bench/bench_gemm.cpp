// bench_gemm: single-precision GEMM on the shapes the FER model runs (each convolution as the
// im2col GEMM over the whole batch, in its three directions, and the fc layer), and on square
// sizes. Rows: the CPU GEMM (kernels::cpu::gemm: OpenBLAS, and minidl's blocked fallback) and, in a CUDA build with a GPU,
// cuBLAS (kernels::cuda::gemm) and our tiled SGEMM (kernels::cuda::sgemm_tiled), with the ratio
// to cuBLAS. Every version is first checked against float64 dot products on sampled entries.
//
//   bench_gemm [--batch 64] [--squares 1024,2048,4096,8192] [--cpu-max 2048] [--min-time 0.3]
//              [--threads N] [--gpu-peak-tflops 67] [--gpu-only]
//
// --gpu-only: no CPU rows (scripts/gpu-check.sh). In a build without OpenBLAS the CPU row is
// minidl's own blocked GEMM (kernels/cpu/gemm_blocked.cpp); with OpenBLAS, a "cpu blocked" row
// shows that fallback beside OpenBLAS on the model's shapes and the squares up to --cpu-max.
//
// The CPU runs the square sizes up to --cpu-max only (8192^3 takes minutes on two cores).
// GPU times: a synchronize before and after a loop of launches, divided by the count (kernels/
// has no event API; over a loop of >= 0.3 s the launch gaps are negligible).
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bench_common.h"
#include "minidl/config.h"
#include "minidl/kernels/cpu/gemm_blocked.h"
#include "minidl/kernels/linear.h"
#include "minidl/models/resnet.h"
#if MINIDL_WITH_CUDA
#include "minidl/kernels/runtime.h"
#endif

using namespace minidl;
namespace mb = minidl::bench;
namespace kc = minidl::kernels::cpu;

namespace {

struct GemmShape {
  std::string name;
  bool ta, tb;
  std::int64_t m, n, k;
  double flops() const { return 2.0 * m * n * k; }
};

// Row-major operands as the conv kernels pass them: A is [m, k] (or [k, m] when transposed).
std::int64_t lda(const GemmShape& s) { return s.ta ? s.m : s.k; }
std::int64_t ldb(const GemmShape& s) { return s.tb ? s.k : s.n; }

std::vector<GemmShape> model_shapes(std::int64_t batch) {
  std::vector<GemmShape> out;
  std::set<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>> seen;
  for (const auto& g : mb::resnet18_conv_geometries(batch, 64, 64)) {
    if (!seen.insert({g.c, g.h, g.k, g.r, g.stride_h}).second) continue;
    const std::int64_t crs = g.c * g.r * g.s, cols = g.n * g.oh * g.ow;
    char name[96];
    std::snprintf(name, sizeof name, "conv %lldx%lld s%lld %lld->%lld @%lldx%lld", (long long)g.r, (long long)g.s,
                  (long long)g.stride_h, (long long)g.c, (long long)g.k, (long long)g.h, (long long)g.w);
    out.push_back({std::string(name) + " fwd", false, false, g.k, cols, crs});
    out.push_back({std::string(name) + " bwd-data", true, false, crs, cols, g.k});
    out.push_back({std::string(name) + " bwd-filter", false, true, g.k, crs, cols});
  }
  out.push_back({"fc 512->7 fwd", false, true, batch, 7, 512});
  out.push_back({"fc 512->7 bwd-data", false, false, batch, 512, 7});
  out.push_back({"fc 512->7 bwd-filter", true, false, 7, 512, batch});
  return out;
}

// Worst scale-aware error of c against float64 dot products on up to 256 sampled entries.
double check(const GemmShape& s, const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c) {
  std::mt19937 gen(5);
  double worst = 0;
  for (int t = 0; t < 256; ++t) {
    const std::int64_t i = gen() % s.m, j = gen() % s.n;
    double ref = 0, mag = 0;
    for (std::int64_t p = 0; p < s.k; ++p) {
      const double x = s.ta ? a[p * lda(s) + i] : a[i * lda(s) + p];
      const double y = s.tb ? b[j * ldb(s) + p] : b[p * ldb(s) + j];
      ref += x * y;
      mag += std::abs(x * y);
    }
    worst = std::max(worst, std::abs(c[i * s.n + j] - ref) / (1e-6 + mag));
  }
  return worst;
}

// Runs f and g in turn until min_time has passed (at least 3 each), so that drift in the
// machine's speed hits both alike; returns the two median run times.
template <typename F, typename G>
std::pair<double, double> time_pair(F&& f, G&& g, double min_time) {
  f(), g();  // warm-up
  std::vector<double> tf, tg;
  const double start = mb::now_s();
  while (tf.size() < 3 || (mb::now_s() - start < 2 * min_time && tf.size() < 1000)) {
    double t0 = mb::now_s();
    f();
    tf.push_back(mb::now_s() - t0);
    t0 = mb::now_s();
    g();
    tg.push_back(mb::now_s() - t0);
  }
  return {mb::median(tf), mb::median(tg)};
}

// Repeats f until min_time has passed (at least 3 runs) and returns the median run time.
template <typename F>
double time_median(F&& f, double min_time) {
  f();  // warm-up
  std::vector<double> t;
  const double start = mb::now_s();
  while (t.size() < 3 || (mb::now_s() - start < min_time && t.size() < 1000)) {
    const double t0 = mb::now_s();
    f();
    t.push_back(mb::now_s() - t0);
  }
  return mb::median(t);
}

constexpr double kTolerance = 1e-5;  // relative to sum |a_ip b_pj|: float32 accumulation

void print_row(const char* who, const GemmShape& s, double sec, double err, double ratio, double peak_tflops,
               const char* versus = "cuBLAS") {
  std::printf("  %-44s %-12s %5lld %6lld %6lld %10.3f ms %9.1f GFLOP/s", s.name.c_str(), who, (long long)s.m,
              (long long)s.n, (long long)s.k, 1e3 * sec, s.flops() / sec / 1e9);
  if (peak_tflops > 0) std::printf(" %5.1f%% peak", 100.0 * s.flops() / sec / 1e12 / peak_tflops);
  if (ratio > 0) std::printf("  x%.2f vs %s", ratio, versus);
  std::printf("  err %.1e%s\n", err, err > kTolerance ? "  FAILED CHECK" : "");
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t batch = 64, cpu_max = 2048;
  std::vector<long long> squares{1024, 2048, 4096, 8192};
  double min_time = 0.3;
  [[maybe_unused]] double gpu_peak = 67.0;
  bool gpu_only = false;
  for (mb::Args a{argc, argv}; a.i < argc; ++a.i) {
    const std::string f = a.flag();
    if (f == "--batch") batch = std::stoll(a.value());
    else if (f == "--squares") squares = mb::parse_list(a.value());
    else if (f == "--cpu-max") cpu_max = std::stoll(a.value());
    else if (f == "--min-time") min_time = std::stod(a.value());
    else if (f == "--threads") omp_set_num_threads(std::stoi(a.value()));
    else if (f == "--gpu-peak-tflops") gpu_peak = std::stod(a.value());
    else if (f == "--gpu-only") gpu_only = true;
    else if (f == "--help" || f == "-h") {
      std::printf("bench_gemm [--batch 64] [--squares 1024,2048,4096,8192] [--cpu-max 2048] [--min-time 0.3] "
                  "[--threads N] [--gpu-peak-tflops 67] [--gpu-only]\n");
      return 0;
    } else a.unknown();
  }
  mb::print_machine("bench_gemm");
  std::vector<GemmShape> shapes = model_shapes(batch);
  for (long long n : squares) shapes.push_back({"square " + std::to_string(n), false, false, n, n, n});
  std::printf("shapes: the FER model's convolutions as im2col GEMMs over a batch of %lld (whole batch, one GEMM), "
              "its fc, and squares; row-major, C[m,n] = op(A)[m,k] op(B)[k,n]\n",
              (long long)batch);
  if (gpu_only)
    std::printf("CPU: not run (--gpu-only)\n\n");
  else
    std::printf("CPU: kernels::cpu::gemm (%s), %d threads, interleaved; squares above %lld skipped on the CPU\n\n",
                MINIDL_WITH_OPENBLAS ? "OpenBLAS, and minidl's blocked GEMM beside it"
                                     : "minidl's blocked GEMM: this build has no OpenBLAS",
                omp_get_max_threads(), (long long)cpu_max);

  std::mt19937 gen(1);
  std::printf("  %-44s %-12s %5s %6s %6s %13s %17s\n", "shape", "version", "m", "n", "k", "median", "rate");
  for (const GemmShape& s : shapes) {
    const auto a = mb::random_vector<float>(s.m * s.k, gen);
    const auto b = mb::random_vector<float>(s.k * s.n, gen);
    std::vector<float> c(static_cast<std::size_t>(s.m * s.n));
    const bool square = s.name.rfind("square", 0) == 0;
    if (!gpu_only && (!square || s.m <= cpu_max)) {
      auto library = [&] {
        kc::gemm<float>(kc::Stream{}, s.ta, s.tb, s.m, s.n, s.k, 1.f, a.data(), lda(s), b.data(), ldb(s), 0.f, c.data(),
                        s.n);
      };
      library();
      const double err = check(s, a, b, c);
#if MINIDL_WITH_OPENBLAS
      std::vector<float> c2(c.size());
      auto blocked = [&] {
        kc::detail::gemm_blocked<float>(s.ta, s.tb, s.m, s.n, s.k, 1.f, a.data(), lda(s), b.data(), ldb(s), 0.f,
                                        c2.data(), s.n);
      };
      blocked();
      const double err2 = check(s, a, b, c2);
      const auto [sec, sec2] = time_pair(library, blocked, min_time);
      print_row("cpu", s, sec, err, 0, 0);
      print_row("cpu blocked", s, sec2, err2, sec / sec2, 0, "OpenBLAS");
#else
      print_row("cpu blocked", s, time_median(library, min_time), err, 0, 0);
#endif
    }
#if MINIDL_WITH_CUDA
    namespace cu = minidl::kernels::cuda;
    if (cu::device_count() > 0) {
      const cu::Stream st = cu::stream(0);
      float *da = static_cast<float*>(cu::malloc(a.size() * 4)), *db = static_cast<float*>(cu::malloc(b.size() * 4)),
            *dc = static_cast<float*>(cu::malloc(c.size() * 4));
      cu::memcpy_async(da, a.data(), a.size() * 4, cu::CopyKind::HostToDevice, st);
      cu::memcpy_async(db, b.data(), b.size() * 4, cu::CopyKind::HostToDevice, st);
      double cublas_sec = 0;
      for (int v = 0; v < 2; ++v) {
        auto run = [&] {
          if (v == 0) cu::gemm(st, s.ta, s.tb, s.m, s.n, s.k, 1.f, da, lda(s), db, ldb(s), 0.f, dc, s.n);
          else cu::sgemm_tiled(st, s.ta, s.tb, s.m, s.n, s.k, 1.f, da, lda(s), db, ldb(s), 0.f, dc, s.n);
        };
        run();
        cu::memcpy_async(c.data(), dc, c.size() * 4, cu::CopyKind::DeviceToHost, st);
        cu::synchronize(0);
        const double err = check(s, a, b, c);
        // Time a loop of launches: enough of them for about min_time.
        run();
        cu::synchronize(0);
        double t0 = mb::now_s();
        run();
        cu::synchronize(0);
        const double once = std::max(1e-6, mb::now_s() - t0);
        const int reps = std::max(3, static_cast<int>(min_time / once));
        std::vector<double> samples;
        for (int rep = 0; rep < 3; ++rep) {
          t0 = mb::now_s();
          for (int i = 0; i < reps; ++i) run();
          cu::synchronize(0);
          samples.push_back((mb::now_s() - t0) / reps);
        }
        const double sec = mb::median(samples);
        if (v == 0) cublas_sec = sec;
        print_row(v == 0 ? "cuBLAS" : "sgemm_tiled", s, sec, err, v == 0 ? 0 : cublas_sec / sec, gpu_peak);
      }
      cu::free(da), cu::free(db), cu::free(dc);
    } else if (&s == &shapes.back()) {
      std::printf("\nGPU rows: not run (no GPU visible)\n");
    }
#else
    if (&s == &shapes.back()) std::printf("\nGPU rows: not run (this build has no CUDA backend; -DMINIDL_CUDA=ON)\n");
#endif
    std::fflush(stdout);
  }
  return 0;
}
