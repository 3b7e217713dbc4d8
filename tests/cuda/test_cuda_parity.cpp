// CUDA parity: every CUDA kernel against its CPU twin (kernels::cpu, float) on the same random
// inputs, with a scale-aware tolerance |cuda - cpu| <= atol + rtol * |cpu| and the worst error
// printed, so a run on a GPU leaves a record of how close each kernel came. Outputs a kernel
// must overwrite are pre-filled with NaN on the device (an element it forgets, or reads before
// writing, fails); accumulating outputs start from the same random values on both sides.
//
// Strict FP32 and deterministic algorithms are on throughout. With no GPU (or a build without
// CUDA) each test skips (minidl::test::no_gpu), which CTest reports as skipped.
#include <catch2/catch.hpp>
#include <iostream>

#include "minidl/config.h"
#include "support.h"

#if MINIDL_WITH_CUDA

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/kernels/augment.h"
#include "minidl/kernels/batch_norm.h"
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/elementwise.h"
#include "minidl/kernels/indexing.h"
#include "minidl/kernels/linear.h"
#include "minidl/kernels/loss.h"
#include "minidl/kernels/optim.h"
#include "minidl/kernels/pointwise.h"
#include "minidl/kernels/pool.h"
#include "minidl/kernels/reduce_dim.h"
#include "minidl/kernels/runtime.h"

namespace {

namespace k = minidl::kernels;
namespace cpu = minidl::kernels::cpu;
namespace kc = minidl::kernels::cuda;
using minidl::AdamWStepOptions;
using minidl::AffineMatrix;
using minidl::SgdStepOptions;
constexpr cpu::Stream cpu_stream;  // the CPU kernels' first argument

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using minidl::test::no_gpu;
using minidl::test::random_vector;

// Every test starts from the same switches: device 0, strict FP32, deterministic algorithms,
// and the default implementation choices; the destructor puts the defaults back.
struct GpuTest {
  GpuTest() {
    kc::set_device(0);
    kc::set_allow_tf32(false);
    kc::set_deterministic(true);
  }
  ~GpuTest() {
    kc::set_conv_backend("auto");
    kc::set_batch_norm_impl(MINIDL_WITH_CUDNN ? kc::BatchNormImpl::Cudnn : kc::BatchNormImpl::Native);
    kc::set_deterministic(false);
  }
  kc::Stream stream() const { return kc::stream(0); }
};

// Device memory owned by the test, filled from and read back into host vectors.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n)
      : n_(n), p_(static_cast<T*>(kc::malloc(std::max<std::size_t>(n, 1) * sizeof(T)))) {}
  explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size()) { upload(v); }
  ~DeviceBuffer() {
    try {
      kc::synchronize(0);
      kc::free(p_);
    } catch (...) {
    }
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void upload(const std::vector<T>& v) {
    REQUIRE(v.size() == n_);
    kc::memcpy_async(p_, v.data(), n_ * sizeof(T), kc::CopyKind::HostToDevice, kc::stream(0));
    kc::synchronize(0);
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    kc::synchronize(0);
    kc::memcpy_async(v.data(), p_, n_ * sizeof(T), kc::CopyKind::DeviceToHost, kc::stream(0));
    kc::synchronize(0);
    return v;
  }
  T* get() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_;
  T* p_;
};

using Buf = DeviceBuffer<float>;

// The suite's scale-aware comparison (support.h), tagged for scripts/gpu_check_report.py, which
// reads the worst error of each parity check from a GPU run's output.
void require_close(const std::vector<float>& got, const std::vector<float>& want, double atol, double rtol,
                   const std::string& what) {
  minidl::test::require_close(got, want, atol, rtol, "[cuda parity] " + what);
}

void require_equal(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  REQUIRE(got.size() == want.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i]) && !(std::isnan(got[i]) && std::isnan(want[i]))) ++mismatches;
  std::cout << "[cuda parity] " << what << ": " << mismatches << " of " << got.size() << " values differ" << std::endl;
  REQUIRE(mismatches == 0);
}

// Float accumulation error grows with the length of a dot product; inputs are in [-1, 1].
double dot_atol(std::int64_t length) { return 1e-5 + 2e-7 * double(length); }

// ---------------------------------------------------------------------------------------------
// Convolution
// ---------------------------------------------------------------------------------------------

k::Conv2dGeometry conv(std::int64_t n, std::int64_t c, std::int64_t hw, std::int64_t kout, std::int64_t r,
                       std::int64_t stride, std::int64_t pad) {
  k::Conv2dGeometry g{n, c, hw, hw, kout, r, r, stride, stride, pad, pad, 0, 0};
  REQUIRE(g.finalize());
  return g;
}

std::string describe(const k::Conv2dGeometry& g) {
  std::ostringstream os;
  os << "n=" << g.n << " c=" << g.c << " " << g.h << "x" << g.w << " -> k=" << g.k << " kernel " << g.r << "x" << g.s
     << " stride " << g.stride_h << "x" << g.stride_w << " pad " << g.pad_h << "x" << g.pad_w << " dilation "
     << g.dilation_h << "x" << g.dilation_w << " groups " << g.groups;
  return os.str();
}

// The FER ResNet-18 at 64x64 input: the stem, every 3x3 of the four stages (stride 1, and the
// stride-2 first conv of stages 2-4), the three 1x1 stride-2 downsamples; plus odd shapes.
std::vector<k::Conv2dGeometry> conv_cases() {
  std::vector<k::Conv2dGeometry> v = {
      conv(2, 1, 64, 64, 7, 2, 3),    // conv1: 7x7 s2 p3, 1 -> 64 at 64x64
      conv(2, 64, 16, 64, 3, 1, 1),   // layer1: 3x3 64 at 16x16
      conv(2, 64, 16, 128, 3, 2, 1),  // layer2.0.conv1: 3x3 s2 64 -> 128
      conv(2, 128, 8, 128, 3, 1, 1),  // layer2: 3x3 128 at 8x8
      conv(2, 64, 16, 128, 1, 2, 0),  // layer2.0.downsample: 1x1 s2
      conv(2, 128, 8, 256, 3, 2, 1),  // layer3.0.conv1
      conv(2, 256, 4, 256, 3, 1, 1),  // layer3: 3x3 256 at 4x4
      conv(2, 128, 8, 256, 1, 2, 0),  // layer3.0.downsample
      conv(2, 256, 4, 512, 3, 2, 1),  // layer4.0.conv1
      conv(2, 512, 2, 512, 3, 1, 1),  // layer4: 3x3 512 at 2x2
      conv(2, 256, 4, 512, 1, 2, 0),  // layer4.0.downsample
      conv(8, 1, 28, 64, 7, 2, 3),    // stem on Fashion-MNIST's 28x28, a longer reduction
  };
  k::Conv2dGeometry odd{3, 5, 11, 9, 7, 3, 2, 2, 1, 1, 0, 0, 0};  // rectangular everything
  REQUIRE(odd.finalize());
  v.push_back(odd);
  // Groups and dilation (not in the FER model): depthwise (k = c and k = 2c), two groups,
  // dilation 2 with stride 2 and padding, and both together on a rectangular kernel.
  const auto grouped = [&](k::Conv2dGeometry g, std::int64_t groups, std::int64_t dh, std::int64_t dw) {
    g.groups = groups;
    g.dilation_h = dh;
    g.dilation_w = dw;
    REQUIRE(g.finalize());
    v.push_back(g);
  };
  grouped(k::Conv2dGeometry{2, 32, 9, 9, 32, 3, 3, 1, 1, 1, 1, 0, 0}, 32, 1, 1);
  grouped(k::Conv2dGeometry{2, 8, 9, 8, 16, 3, 3, 2, 2, 1, 1, 0, 0}, 8, 1, 1);
  grouped(k::Conv2dGeometry{2, 6, 8, 8, 4, 3, 3, 1, 1, 1, 1, 0, 0}, 2, 1, 1);
  grouped(k::Conv2dGeometry{2, 5, 13, 12, 7, 3, 3, 2, 2, 2, 2, 0, 0}, 1, 2, 2);
  grouped(k::Conv2dGeometry{3, 6, 11, 10, 9, 3, 2, 1, 2, 2, 1, 0, 0}, 3, 2, 3);
  return v;
}

void check_conv(const k::Conv2dGeometry& g, const std::string& backend, std::uint32_t seed,
                bool deterministic = true) {
  const std::string tag =
      "conv2d " + backend + " " + std::string(deterministic ? "" : "(timed search) ") + describe(g);
  INFO(tag);
  GpuTest t;
  kc::set_conv_backend(backend);
  kc::set_deterministic(deterministic);
  // cuDNN may pick FFT or Winograd algorithms (still FP32 with FMA math), whose rounding error
  // is a few times that of a direct dot product.
  const double slack = backend == "cudnn" ? 5.0 : 1.0;
  const auto atol = [&](std::int64_t length) { return slack * dot_atol(length); };
  std::mt19937 gen(seed);
  const std::size_t nx = g.n * g.c * g.h * g.w, nw = g.k * g.c_per_group() * g.r * g.s, ny = g.n * g.k * g.oh * g.ow;
  const auto x = random_vector<float>(nx, gen), w = random_vector<float>(nw, gen), bias = random_vector<float>(g.k, gen);
  const auto dy = random_vector<float>(ny, gen);
  const auto dx_prior = random_vector<float>(nx, gen), dw_prior = random_vector<float>(nw, gen), db_prior = random_vector<float>(g.k, gen);
  Buf dx_d(x), dw_d(w), dbias_d(bias), ddy(dy);

  // forward, with and without bias
  for (const bool with_bias : {true, false}) {
    std::vector<float> want(ny);
    cpu::conv2d_forward<float>(cpu_stream, g, x.data(), w.data(), with_bias ? bias.data() : nullptr, want.data());
    Buf y(std::vector<float>(ny, kNaN));
    kc::conv2d_forward<float>(t.stream(), g, dx_d.get(), dw_d.get(), with_bias ? dbias_d.get() : nullptr, y.get());
    require_close(y.download(), want, atol(g.c_per_group() * g.r * g.s), 1e-5,
                  tag + (with_bias ? " forward+bias" : " forward"));
  }
  for (const bool acc : {false, true}) {
    const std::string how = acc ? " accumulate" : " overwrite";
    std::vector<float> want_dx = acc ? dx_prior : std::vector<float>(nx, kNaN);
    cpu::conv2d_backward_input<float>(cpu_stream, g, dy.data(), w.data(), want_dx.data(), acc);
    Buf gdx(acc ? dx_prior : std::vector<float>(nx, kNaN));
    kc::conv2d_backward_input<float>(t.stream(), g, ddy.get(), dw_d.get(), gdx.get(), acc);
    require_close(gdx.download(), want_dx, atol(g.k_per_group() * g.r * g.s), 1e-5, tag + " backward_input" + how);

    std::vector<float> want_dw = acc ? dw_prior : std::vector<float>(nw, kNaN);
    cpu::conv2d_backward_weight<float>(cpu_stream, g, x.data(), dy.data(), want_dw.data(), acc);
    Buf gdw(acc ? dw_prior : std::vector<float>(nw, kNaN));
    kc::conv2d_backward_weight<float>(t.stream(), g, dx_d.get(), ddy.get(), gdw.get(), acc);
    require_close(gdw.download(), want_dw, atol(g.n * g.oh * g.ow), 1e-5, tag + " backward_weight" + how);

    std::vector<float> want_db = acc ? db_prior : std::vector<float>(g.k, kNaN);
    cpu::conv2d_backward_bias<float>(cpu_stream, g, dy.data(), want_db.data(), acc);
    Buf gdb(acc ? db_prior : std::vector<float>(g.k, kNaN));
    kc::conv2d_backward_bias<float>(t.stream(), g, ddy.get(), gdb.get(), acc);
    require_close(gdb.download(), want_db, atol(g.n * g.oh * g.ow), 1e-5, tag + " backward_bias" + how);
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM
// ---------------------------------------------------------------------------------------------

struct GemmCase {
  std::int64_t m, n, k;
  bool ta, tb;
  std::int64_t pad;  // extra leading-dimension padding, so ld > the row length
};

void check_gemm(bool tiled, const GemmCase& c, float alpha, float beta, std::uint32_t seed) {
  GpuTest t;
  std::mt19937 gen(seed);
  // Row-major op(A) is m x k: A is stored m x k (lda >= k), or k x m if transposed (lda >= m).
  const std::int64_t a_rows = c.ta ? c.k : c.m, a_cols = c.ta ? c.m : c.k;
  const std::int64_t b_rows = c.tb ? c.n : c.k, b_cols = c.tb ? c.k : c.n;
  const std::int64_t lda = std::max<std::int64_t>(a_cols, 1) + c.pad, ldb = std::max<std::int64_t>(b_cols, 1) + c.pad;
  const std::int64_t ldc = std::max<std::int64_t>(c.n, 1) + c.pad;
  const auto a = random_vector<float>(std::max<std::int64_t>(a_rows, 1) * lda, gen);
  const auto b = random_vector<float>(std::max<std::int64_t>(b_rows, 1) * ldb, gen);
  std::vector<float> c0 = random_vector<float>(c.m * ldc, gen);
  if (beta == 0.f)  // C must not be read: NaN in the rows' used part, sentinels in the padding
    for (std::int64_t i = 0; i < c.m; ++i)
      for (std::int64_t j = 0; j < c.n; ++j) c0[i * ldc + j] = kNaN;
  std::vector<float> want = c0;
  if (beta == 0.f)
    for (std::int64_t i = 0; i < c.m; ++i)
      for (std::int64_t j = 0; j < c.n; ++j) want[i * ldc + j] = 0.f;  // OpenBLAS may read C; give it zeros
  cpu::gemm<float>(cpu_stream, c.ta, c.tb, c.m, c.n, c.k, alpha, a.data(), lda, b.data(), ldb, beta, want.data(), ldc);
  Buf da(a), db(b), dc(c0);
  if (tiled)
    kc::sgemm_tiled<float>(t.stream(), c.ta, c.tb, c.m, c.n, c.k, alpha, da.get(), lda, db.get(), ldb, beta, dc.get(),
                           ldc);
  else
    kc::gemm<float>(t.stream(), c.ta, c.tb, c.m, c.n, c.k, alpha, da.get(), lda, db.get(), ldb, beta, dc.get(), ldc);
  std::ostringstream tag;
  tag << (tiled ? "sgemm_tiled " : "cuBLAS gemm ") << c.m << "x" << c.n << "x" << c.k << (c.ta ? " A^T" : " A")
      << (c.tb ? " B^T" : " B") << " pad " << c.pad << " alpha " << alpha << " beta " << beta;
  // The padding between rows must come back untouched: it is compared too.
  require_close(dc.download(), want, dot_atol(c.k) * std::abs(alpha) + 1e-6, 1e-5, tag.str());
}

void check_gemm_all(bool tiled) {
  const std::vector<GemmCase> shapes = {
      {1, 1, 1, false, false, 0},      {7, 5, 3, false, false, 0},      {64, 64, 64, false, false, 0},
      {65, 63, 17, false, false, 3},   {128, 7, 512, false, false, 0},  {3, 200, 1000, false, false, 1},
      {257, 129, 33, false, false, 0}, {33, 17, 4096, false, false, 0}, {5, 6, 0, false, false, 0},
  };
  std::uint32_t seed = 100;
  for (const auto& base : shapes)
    for (const bool ta : {false, true})
      for (const bool tb : {false, true}) {
        GemmCase c = base;
        c.ta = ta;
        c.tb = tb;
        check_gemm(tiled, c, 1.f, 0.f, seed++);
        check_gemm(tiled, c, 1.5f, 0.5f, seed++);
      }
}

// ---------------------------------------------------------------------------------------------
// Batch norm
// ---------------------------------------------------------------------------------------------

void check_batch_norm(const k::BatchNormGeometry& g, bool affine, const char* impl, std::uint32_t seed,
                      double eps = 1e-5) {
  std::ostringstream ts;
  ts << "batch_norm " << impl << " n=" << g.n << " c=" << g.c << " hw=" << g.hw << (affine ? "" : " no affine")
     << " eps=" << eps;
  const std::string tag = ts.str();
  INFO(tag);
  GpuTest t;
  if (std::string(impl) == "native") kc::set_batch_norm_impl(kc::BatchNormImpl::Native);
#if MINIDL_WITH_CUDNN
  if (std::string(impl) == "cudnn") kc::set_batch_norm_impl(kc::BatchNormImpl::Cudnn);
#endif
  std::mt19937 gen(seed);
  const std::size_t nx = g.n * g.c * g.hw;
  auto x = random_vector<float>(nx, gen, -2.f, 3.f);
  const auto gamma = random_vector<float>(g.c, gen, 0.5f, 1.5f), beta = random_vector<float>(g.c, gen);
  const auto rm0 = random_vector<float>(g.c, gen), rv0 = random_vector<float>(g.c, gen, 0.5f, 2.f);
  const auto dy = random_vector<float>(nx, gen);
  const double momentum = 0.1;
  const float* gp = affine ? gamma.data() : nullptr;
  const float* bp = affine ? beta.data() : nullptr;
  Buf dx_in(x), dgamma_in(gamma), dbeta_in(beta), ddy(dy);
  float* dgp = affine ? dgamma_in.get() : nullptr;
  float* dbp = affine ? dbeta_in.get() : nullptr;

  // training forward: y, saved statistics, running statistics
  std::vector<float> y(nx), sm(g.c), si(g.c), rm = rm0, rv = rv0;
  cpu::batch_norm_forward_train<float>(cpu_stream, g, x.data(), gp, bp, eps, momentum, rm.data(), rv.data(), y.data(),
                                       sm.data(),
                                       si.data());
  Buf gy(std::vector<float>(nx, kNaN)), gsm(std::vector<float>(g.c, kNaN)), gsi(std::vector<float>(g.c, kNaN));
  Buf grm(rm0), grv(rv0);
  kc::batch_norm_forward_train<float>(t.stream(), g, dx_in.get(), dgp, dbp, eps, momentum, grm.get(), grv.get(),
                                      gy.get(), gsm.get(),
                               gsi.get());
  require_close(gy.download(), y, 1e-5, 1e-5, tag + " train y");
  require_close(gsm.download(), sm, 1e-6, 1e-5, tag + " saved mean");
  require_close(gsi.download(), si, 1e-6, 1e-5, tag + " saved invstd");
  require_close(grm.download(), rm, 1e-6, 1e-5, tag + " running mean");
  require_close(grv.download(), rv, 1e-6, 1e-5, tag + " running var");

  // evaluation forward
  std::vector<float> ye(nx);
  cpu::batch_norm_forward_eval<float>(cpu_stream, g, x.data(), gp, bp, rm0.data(), rv0.data(), eps, ye.data());
  Buf grm0(rm0), grv0(rv0), gye(std::vector<float>(nx, kNaN));
  kc::batch_norm_forward_eval<float>(t.stream(), g, dx_in.get(), dgp, dbp, grm0.get(), grv0.get(), eps, gye.get());
  require_close(gye.download(), ye, 1e-5, 1e-5, tag + " eval y");

  // backward, training (saved statistics) and evaluation (running statistics as constants)
  std::vector<float> eval_invstd(g.c);
  for (std::int64_t c = 0; c < g.c; ++c) eval_invstd[c] = float(1.0 / std::sqrt(double(rv0[c]) + eps));
  const std::size_t count = g.n * g.hw;
  for (const bool training : {true, false}) {
    const std::vector<float>& mean = training ? sm : rm0;
    const std::vector<float>& invstd = training ? si : eval_invstd;
    Buf dmean(mean), dinvstd(invstd);
    for (const bool acc : {false, true}) {
      const std::string how = std::string(training ? " train" : " eval") + (acc ? " accumulate" : " overwrite");
      const auto dx_prior = random_vector<float>(nx, gen), dg_prior = random_vector<float>(g.c, gen),
                 db_prior = random_vector<float>(g.c, gen);
      std::vector<float> dx = acc ? dx_prior : std::vector<float>(nx, kNaN);
      std::vector<float> dg = acc ? dg_prior : std::vector<float>(g.c, kNaN);
      std::vector<float> db = acc ? db_prior : std::vector<float>(g.c, kNaN);
      cpu::batch_norm_backward<float>(cpu_stream, g, training, dy.data(), x.data(), nullptr, gp, mean.data(), invstd.data(), eps, dx.data(), acc,
                                      dg.data(), db.data(), acc);
      Buf gdx(acc ? dx_prior : std::vector<float>(nx, kNaN));
      Buf gdg(acc ? dg_prior : std::vector<float>(g.c, kNaN)), gdb(acc ? db_prior : std::vector<float>(g.c, kNaN));
      kc::batch_norm_backward<float>(t.stream(), g, training, ddy.get(), dx_in.get(), nullptr, dgp, dmean.get(), dinvstd.get(), eps, gdx.get(), acc,
                              gdg.get(), gdb.get(), acc);
      require_close(gdx.download(), dx, 2e-5, 1e-4, tag + " backward dx" + how);
      require_close(gdg.download(), dg, dot_atol(count), 1e-5, tag + " backward dgamma" + how);
      require_close(gdb.download(), db, dot_atol(count), 1e-5, tag + " backward dbeta" + how);
    }
    // Only some gradients wanted: the others are null and must not be touched.
    std::vector<float> dx_only(nx, kNaN);
    cpu::batch_norm_backward<float>(cpu_stream, g, training, dy.data(), x.data(), nullptr, gp, mean.data(), invstd.data(), eps, dx_only.data(),
                                    false, nullptr, nullptr, false);
    Buf gdx(std::vector<float>(nx, kNaN));
    kc::batch_norm_backward<float>(t.stream(), g, training, ddy.get(), dx_in.get(), nullptr, dgp, dmean.get(), dinvstd.get(), eps, gdx.get(), false,
                            nullptr, nullptr, false);
    require_close(gdx.download(), dx_only, 2e-5, 1e-4, tag + (training ? " train" : " eval") + " backward dx only");
    std::vector<float> dg_only(g.c, kNaN);
    cpu::batch_norm_backward<float>(cpu_stream, g, training, dy.data(), x.data(), nullptr, gp, mean.data(), invstd.data(), eps, nullptr, false,
                                    dg_only.data(), nullptr, false);
    Buf gdg(std::vector<float>(g.c, kNaN));
    kc::batch_norm_backward<float>(t.stream(), g, training, ddy.get(), dx_in.get(), nullptr, dgp, dmean.get(), dinvstd.get(), eps, nullptr, false,
                            gdg.get(), nullptr, false);
    require_close(gdg.download(), dg_only, dot_atol(count), 1e-5,
                  tag + (training ? " train" : " eval") + " backward dgamma only");
  }
}

void check_batch_norm_all(const char* impl) {
  std::uint32_t seed = 7;
  for (const auto& g : {k::BatchNormGeometry{4, 64, 256}, k::BatchNormGeometry{8, 512, 4},
                        k::BatchNormGeometry{3, 5, 7}, k::BatchNormGeometry{16, 64, 1024}})
    for (const bool affine : {true, false}) check_batch_norm(g, affine, impl, seed++);
  // A large epsilon moves the inverse std by a few percent: a backward handed a different
  // epsilon than its forward (cuDNN's once got CUDNN_BN_MIN_EPSILON) would show here, if the
  // engine recomputes from it.
  for (const double eps : {1e-3, 0.1}) check_batch_norm(k::BatchNormGeometry{8, 32, 64}, true, impl, seed++, eps);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

TEST_CASE("cuda runtime: device_count never throws", "[cuda]") {
  // Runs everywhere: with no driver or no GPU it must say 0, not fail.
  int count = -1;
  REQUIRE_NOTHROW(count = kc::device_count());
  REQUIRE(count >= 0);
  std::cout << "[cuda] device_count() = " << count << std::endl;
}

TEST_CASE("cuda runtime: implementation switches", "[cuda]") {
  // Only globals: no driver call, so this runs without a GPU too.
  const auto conv_default = kc::conv_backend();
  const auto bn_default = kc::batch_norm_impl();
  CHECK(conv_default == "auto");
  CHECK(bn_default == (MINIDL_WITH_CUDNN ? kc::BatchNormImpl::Cudnn : kc::BatchNormImpl::Native));
  // Auto runs cuDNN where the build has it, else the implicit GEMM (a 3x3 convolution).
  k::Conv2dGeometry g{2, 4, 8, 8, 4, 3, 3, 1, 1, 1, 1, 0, 0};
  REQUIRE(g.finalize());
  CHECK(std::string(kc::conv_backend_for<float>(k::ConvDirection::Forward, g).name) ==
        (MINIDL_WITH_CUDNN ? "cudnn" : "implicit_gemm"));
  kc::set_conv_backend("implicit_gemm");
  CHECK(kc::conv_backend() == "implicit_gemm");
  CHECK(std::string(kc::conv_backend_for<float>(k::ConvDirection::BackwardData, g).name) == "implicit_gemm");
  CHECK_THROWS_WITH(kc::set_conv_backend("winograd"), Catch::Matchers::Contains("expected one of auto, implicit_gemm"));
#if MINIDL_WITH_CUDNN
  kc::set_conv_backend("cudnn");
  CHECK(kc::conv_backend() == "cudnn");
#else
  CHECK_THROWS_WITH(kc::set_conv_backend("cudnn"), Catch::Matchers::Contains("no cuDNN"));
  CHECK_THROWS_AS(kc::set_batch_norm_impl(kc::BatchNormImpl::Cudnn), minidl::Error);
#endif
  kc::set_conv_backend(conv_default);
  kc::set_batch_norm_impl(bn_default);
  CHECK_FALSE(kc::allow_tf32());  // strict FP32 unless asked
}

TEST_CASE("cuda runtime: out of memory says what was asked for", "[cuda]") {
  if (no_gpu()) return;
  GpuTest t;
  const std::size_t huge = std::size_t(1) << 50;  // a pebibyte
  try {
    kc::malloc(huge);
    FAIL("a 1 PiB allocation succeeded");
  } catch (const minidl::OutOfMemoryError& e) {
    std::cout << "[cuda] " << e.what() << std::endl;
    CHECK(e.requested_bytes == huge);
    CHECK(e.in_use_bytes > 0);
    CHECK(std::string(e.what()).find("smaller batch") != std::string::npos);
  }
  // The failed allocation must not poison later calls.
  void* p = kc::malloc(1024);
  CHECK(p != nullptr);
  kc::free(p);
}

TEST_CASE("cuda parity: conv2d implicit GEMM on the FER ResNet-18 geometries, groups and dilation", "[cuda][conv]") {
  if (no_gpu()) return;
  std::uint32_t seed = 1;
  for (const auto& g : conv_cases()) check_conv(g, "implicit_gemm", seed++);
}

TEST_CASE("cuda parity: conv2d cuDNN on the FER ResNet-18 geometries, groups and dilation", "[cuda][conv]") {
#if MINIDL_WITH_CUDNN
  if (no_gpu()) return;
  std::uint32_t seed = 1;
  // Deterministic mode takes cuDNN's heuristic choice; the default times the algorithms.
  for (const auto& g : conv_cases()) {
    check_conv(g, "cudnn", seed, true);
    check_conv(g, "cudnn", seed++, false);
  }
#else
  minidl::test::skip(minidl::test::Need::Gpu, "built without cuDNN");
#endif
}

TEST_CASE("cuda parity: conv2d results are bit-identical when repeated (deterministic)", "[cuda][conv]") {
  if (no_gpu()) return;
  for (const auto& backend : kc::conv_backends<float>()) {
    GpuTest t;
    kc::set_conv_backend(backend.name);
    const auto g = conv(8, 64, 16, 64, 3, 1, 1);
    std::mt19937 gen(3);
    Buf x(random_vector<float>(g.n * g.c * g.h * g.w, gen)), dy(random_vector<float>(g.n * g.k * g.oh * g.ow, gen));
    Buf w(random_vector<float>(g.k * g.c * g.r * g.s, gen));
    Buf dw1(g.k * g.c * g.r * g.s), dw2(g.k * g.c * g.r * g.s), dx1(x.size()), dx2(x.size());
    kc::conv2d_backward_weight<float>(t.stream(), g, x.get(), dy.get(), dw1.get(), false);
    kc::conv2d_backward_weight<float>(t.stream(), g, x.get(), dy.get(), dw2.get(), false);
    kc::conv2d_backward_input<float>(t.stream(), g, dy.get(), w.get(), dx1.get(), false);
    kc::conv2d_backward_input<float>(t.stream(), g, dy.get(), w.get(), dx2.get(), false);
    const std::string name = backend.name;
    require_equal(dw1.download(), dw2.download(), "conv2d " + name + " backward_weight repeated");
    require_equal(dx1.download(), dx2.download(), "conv2d " + name + " backward_input repeated");
  }
}

TEST_CASE("cuda parity: cuBLAS gemm, odd sizes and transposes", "[cuda][gemm]") {
  if (no_gpu()) return;
  check_gemm_all(false);
}

TEST_CASE("cuda parity: tiled SGEMM, odd sizes and transposes", "[cuda][gemm]") {
  if (no_gpu()) return;
  check_gemm_all(true);
}

TEST_CASE("cuda parity: linear forward and backward", "[cuda][linear]") {
  if (no_gpu()) return;
  GpuTest t;
  std::uint32_t seed = 11;
  for (const auto& g : {k::LinearGeometry{5, 512, 7}, k::LinearGeometry{33, 17, 9}, k::LinearGeometry{256, 512, 7}}) {
    std::ostringstream ts;
    ts << "linear batch=" << g.batch << " in=" << g.in << " out=" << g.out;
    const std::string tag = ts.str();
    std::mt19937 gen(seed++);
    const auto x = random_vector<float>(g.batch * g.in, gen), w = random_vector<float>(g.out * g.in, gen);
    const auto b = random_vector<float>(g.out, gen), dy = random_vector<float>(g.batch * g.out, gen);
    Buf dx_in(x), dw_in(w), db_in(b), ddy(dy);
    for (const bool with_bias : {true, false}) {
      std::vector<float> y(g.batch * g.out);
      cpu::linear_forward<float>(cpu_stream, g, x.data(), w.data(), with_bias ? b.data() : nullptr, y.data());
      Buf gy(std::vector<float>(y.size(), kNaN));
      kc::linear_forward<float>(t.stream(), g, dx_in.get(), dw_in.get(), with_bias ? db_in.get() : nullptr, gy.get());
      require_close(gy.download(), y, dot_atol(g.in), 1e-5, tag + (with_bias ? " forward+bias" : " forward"));
    }
    for (const bool acc : {false, true}) {
      const std::string how = acc ? " accumulate" : " overwrite";
      const auto px = random_vector<float>(x.size(), gen), pw = random_vector<float>(w.size(), gen),
                 pb = random_vector<float>(b.size(), gen);
      std::vector<float> dx = acc ? px : std::vector<float>(x.size(), kNaN);
      cpu::linear_backward_input<float>(cpu_stream, g, dy.data(), w.data(), dx.data(), acc);
      Buf gdx(acc ? px : std::vector<float>(x.size(), kNaN));
      kc::linear_backward_input<float>(t.stream(), g, ddy.get(), dw_in.get(), gdx.get(), acc);
      require_close(gdx.download(), dx, dot_atol(g.out), 1e-5, tag + " backward_input" + how);

      std::vector<float> dw = acc ? pw : std::vector<float>(w.size(), kNaN);
      cpu::linear_backward_weight<float>(cpu_stream, g, x.data(), dy.data(), dw.data(), acc);
      Buf gdw(acc ? pw : std::vector<float>(w.size(), kNaN));
      kc::linear_backward_weight<float>(t.stream(), g, dx_in.get(), ddy.get(), gdw.get(), acc);
      require_close(gdw.download(), dw, dot_atol(g.batch), 1e-5, tag + " backward_weight" + how);

      std::vector<float> db = acc ? pb : std::vector<float>(b.size(), kNaN);
      cpu::linear_backward_bias<float>(cpu_stream, g, dy.data(), db.data(), acc);
      Buf gdb(acc ? pb : std::vector<float>(b.size(), kNaN));
      kc::linear_backward_bias<float>(t.stream(), g, ddy.get(), gdb.get(), acc);
      require_close(gdb.download(), db, dot_atol(g.batch), 1e-5, tag + " backward_bias" + how);
    }
  }
}

TEST_CASE("cuda parity: elementwise ops, sum and fill_from_scalar", "[cuda][elementwise]") {
  if (no_gpu()) return;
  GpuTest t;
  for (const std::int64_t n : {std::int64_t(1), std::int64_t(1000), std::int64_t(1) << 20, std::int64_t(3000001)}) {
    const std::string tag = "n=" + std::to_string(n);
    std::mt19937 gen(static_cast<std::uint32_t>(n));
    const auto a = random_vector<float>(n, gen), b = random_vector<float>(n, gen), prior = random_vector<float>(n, gen);
    Buf da(a), dbuf(b);

    std::vector<float> want(n);
    cpu::fill<float>(cpu_stream, n, 0.25f, want.data());
    Buf y(std::vector<float>(n, kNaN));
    kc::fill<float>(t.stream(), n, 0.25f, y.get());
    require_equal(y.download(), want, "fill " + tag);

    for (const bool acc : {false, true}) {
      std::vector<float> s = acc ? prior : std::vector<float>(n, kNaN);
      cpu::scale<float>(cpu_stream, n, -1.75f, a.data(), s.data(), acc);
      Buf gs(acc ? prior : std::vector<float>(n, kNaN));
      kc::scale<float>(t.stream(), n, -1.75f, da.get(), gs.get(), acc);
      require_close(gs.download(), s, 1e-7, 1e-6, "scale " + tag + (acc ? " accumulate" : " overwrite"));
    }

    cpu::add<float>(cpu_stream, n, a.data(), b.data(), want.data());
    Buf gadd(std::vector<float>(n, kNaN));
    kc::add<float>(t.stream(), n, da.get(), dbuf.get(), gadd.get());
    require_equal(gadd.download(), want, "add " + tag);

    cpu::add_relu<float>(cpu_stream, n, a.data(), b.data(), want.data());
    Buf gar(std::vector<float>(n, kNaN));
    kc::add_relu<float>(t.stream(), n, da.get(), dbuf.get(), gar.get());
    require_equal(gar.download(), want, "add_relu " + tag);

    std::vector<float> r(n);
    cpu::relu_forward<float>(cpu_stream, n, a.data(), r.data());
    Buf gr(std::vector<float>(n, kNaN));
    kc::relu_forward<float>(t.stream(), n, da.get(), gr.get());
    require_equal(gr.download(), r, "relu_forward " + tag);

    for (const bool acc : {false, true}) {
      std::vector<float> dx = acc ? prior : std::vector<float>(n, kNaN);
      cpu::relu_backward<float>(cpu_stream, n, b.data(), r.data(), dx.data(), acc);
      Buf gdx(acc ? prior : std::vector<float>(n, kNaN));
      kc::relu_backward<float>(t.stream(), n, dbuf.get(), gr.get(), gdx.get(), acc);
      require_equal(gdx.download(), dx, "relu_backward " + tag + (acc ? " accumulate" : " overwrite"));
    }

    float s = kNaN;
    cpu::sum<float>(cpu_stream, n, a.data(), 1.0, &s);
    Buf gsum(std::vector<float>{kNaN});
    kc::sum<float>(t.stream(), n, da.get(), 1.0, gsum.get());
    require_close(gsum.download(), {s}, 1e-6 * std::sqrt(double(n)), 1e-6, "sum " + tag);
    // Deterministic: a second sum gives the same bits.
    Buf gsum2(std::vector<float>{kNaN});
    kc::sum<float>(t.stream(), n, da.get(), 1.0, gsum2.get());
    require_equal(gsum2.download(), gsum.download(), "sum repeated " + tag);
    // mean's scaling, applied once to the double total on both.
    const double alpha = 1.0 / double(n);
    cpu::sum<float>(cpu_stream, n, a.data(), alpha, &s);
    kc::sum<float>(t.stream(), n, da.get(), alpha, gsum.get());
    require_close(gsum.download(), {s}, 1e-7, 1e-6, "mean " + tag);

    Buf scalar(std::vector<float>{3.f});
    for (const bool acc : {false, true}) {
      std::vector<float> f = acc ? prior : std::vector<float>(n, kNaN);
      for (std::int64_t i = 0; i < n; ++i) f[i] = acc ? f[i] + 0.5f * 3.f : 0.5f * 3.f;
      Buf gf(acc ? prior : std::vector<float>(n, kNaN));
      kc::fill_from_scalar<float>(t.stream(), n, scalar.get(), 0.5, gf.get(), acc);
      require_equal(gf.download(), f, "fill_from_scalar " + tag + (acc ? " accumulate" : " overwrite"));
    }
  }
  // n == 0: sum writes 0 and nothing is launched out of bounds.
  Buf z(std::vector<float>{kNaN});
  kc::sum<float>(t.stream(), 0, z.get(), 1.0, z.get());
  require_equal(z.download(), {0.f}, "sum of nothing");
}

// The precision policy's rounding (kernels/bf16.h): the CUDA kernel must give the CPU's bits,
// on every kind of float (random bit patterns: normals, denormals, infinities, NaNs).
TEST_CASE("cuda parity: bf16 rounding, bit for bit", "[cuda][bf16]") {
  if (no_gpu()) return;
  GpuTest t;
  for (const std::int64_t n : {std::int64_t(1), std::int64_t(4097), std::int64_t(1) << 20}) {
    std::mt19937 gen(static_cast<std::uint32_t>(n));
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& v : x) {
      const std::uint32_t u = gen();
      std::memcpy(&v, &u, sizeof v);
    }
    std::vector<float> want(x.size());
    cpu::round_to_bf16(cpu_stream, n, x.data(), want.data());
    Buf dx(x), dy(std::vector<float>(x.size(), kNaN));
    kc::round_to_bf16(t.stream(), n, dx.get(), dy.get());
    const auto got = dy.download();
    std::size_t differ = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      std::uint32_t a, b;
      std::memcpy(&a, &got[i], sizeof a);
      std::memcpy(&b, &want[i], sizeof b);
      differ += a != b;
    }
    std::cout << "[cuda parity] round_to_bf16 n=" << n << ": " << differ << " of " << n << " bit patterns differ"
              << std::endl;
    REQUIRE(differ == 0);
  }
}

TEST_CASE("cuda parity: batch norm, our kernels", "[cuda][batch_norm]") {
  if (no_gpu()) return;
  check_batch_norm_all("native");
}

TEST_CASE("cuda parity: batch norm through cuDNN", "[cuda][batch_norm]") {
#if MINIDL_WITH_CUDNN
  if (no_gpu()) return;
  check_batch_norm_all("cudnn");
#else
  minidl::test::skip(minidl::test::Need::Gpu, "built without cuDNN");
#endif
}

TEST_CASE("cuda parity: max pool forward (values and argmax) and backward", "[cuda][pool]") {
  if (no_gpu()) return;
  GpuTest t;
  std::uint32_t seed = 21;
  const std::vector<k::Pool2dGeometry> cases = {
      {4, 64, 32, 32, 3, 3, 2, 2, 1, 1, 0, 0},  // ResNet's stem pool
      {2, 3, 7, 9, 2, 2, 2, 2, 0, 0, 0, 0},
      {2, 3, 7, 9, 3, 3, 1, 1, 1, 1, 0, 0},
      {1, 2, 5, 6, 3, 2, 2, 1, 1, 0, 0, 0},
  };
  for (auto g : cases) {
    REQUIRE(g.finalize());
    std::ostringstream ts;
    ts << "max_pool2d " << g.n << "x" << g.c << "x" << g.h << "x" << g.w << " k" << g.kh << "x" << g.kw << " s"
       << g.stride_h << "x" << g.stride_w << " p" << g.pad_h << "x" << g.pad_w;
    const std::string tag = ts.str();
    std::mt19937 gen(seed++);
    const std::size_t nx = g.n * g.c * g.h * g.w, ny = g.n * g.c * g.oh * g.ow;
    const auto x = random_vector<float>(nx, gen), dy = random_vector<float>(ny, gen), prior = random_vector<float>(nx, gen);
    std::vector<float> y(ny);
    std::vector<std::int64_t> arg(ny);
    cpu::max_pool2d_forward<float>(cpu_stream, g, x.data(), y.data(), arg.data());
    Buf dx_in(x), gy(std::vector<float>(ny, kNaN)), ddy(dy);
    DeviceBuffer<std::int64_t> garg(std::vector<std::int64_t>(ny, -7));
    kc::max_pool2d_forward<float>(t.stream(), g, dx_in.get(), gy.get(), garg.get());
    require_equal(gy.download(), y, tag + " forward");
    const auto got_arg = garg.download();
    std::size_t arg_diff = 0;
    for (std::size_t i = 0; i < ny; ++i) arg_diff += got_arg[i] != arg[i];
    std::cout << "[cuda parity] " << tag << " argmax: " << arg_diff << " of " << ny << " differ" << std::endl;
    REQUIRE(arg_diff == 0);
    DeviceBuffer<std::int64_t> cpu_arg(arg);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = acc ? prior : std::vector<float>(nx, kNaN);
      cpu::max_pool2d_backward<float>(cpu_stream, g, dy.data(), arg.data(), dx.data(), acc);
      Buf gdx(acc ? prior : std::vector<float>(nx, kNaN));
      kc::max_pool2d_backward<float>(t.stream(), g, ddy.get(), cpu_arg.get(), gdx.get(), acc);
      require_close(gdx.download(), dx, 1e-6, 1e-6, tag + " backward" + (acc ? " accumulate" : " overwrite"));
    }
  }
}

TEST_CASE("cuda parity: adaptive average pool forward and backward", "[cuda][pool]") {
  if (no_gpu()) return;
  GpuTest t;
  struct Case {
    std::int64_t n, c, h, w, oh, ow;
  };
  std::uint32_t seed = 31;
  for (const auto& s : {Case{4, 512, 2, 2, 1, 1}, Case{2, 3, 7, 9, 3, 4}, Case{2, 3, 3, 3, 5, 5},
                        Case{2, 8, 16, 16, 1, 1}, Case{1, 2, 10, 7, 4, 7}}) {
    std::ostringstream ts;
    ts << "adaptive_avg_pool2d " << s.n << "x" << s.c << "x" << s.h << "x" << s.w << " -> " << s.oh << "x" << s.ow;
    const std::string tag = ts.str();
    std::mt19937 gen(seed++);
    const std::size_t nx = s.n * s.c * s.h * s.w, ny = s.n * s.c * s.oh * s.ow;
    const auto x = random_vector<float>(nx, gen), dy = random_vector<float>(ny, gen), prior = random_vector<float>(nx, gen);
    std::vector<float> y(ny);
    cpu::adaptive_avg_pool2d_forward<float>(cpu_stream, s.n, s.c, s.h, s.w, s.oh, s.ow, x.data(), y.data());
    Buf dx_in(x), gy(std::vector<float>(ny, kNaN)), ddy(dy);
    kc::adaptive_avg_pool2d_forward<float>(t.stream(), s.n, s.c, s.h, s.w, s.oh, s.ow, dx_in.get(), gy.get());
    require_close(gy.download(), y, 1e-6, 1e-5, tag + " forward");
    for (const bool acc : {false, true}) {
      std::vector<float> dx = acc ? prior : std::vector<float>(nx, kNaN);
      cpu::adaptive_avg_pool2d_backward<float>(cpu_stream, s.n, s.c, s.h, s.w, s.oh, s.ow, dy.data(), dx.data(), acc);
      Buf gdx(acc ? prior : std::vector<float>(nx, kNaN));
      kc::adaptive_avg_pool2d_backward<float>(t.stream(), s.n, s.c, s.h, s.w, s.oh, s.ow, ddy.get(), gdx.get(), acc);
      require_close(gdx.download(), dx, 1e-6, 1e-5, tag + " backward" + (acc ? " accumulate" : " overwrite"));
    }
  }
}

TEST_CASE("cuda parity: log_softmax forward and backward", "[cuda][loss]") {
  if (no_gpu()) return;
  GpuTest t;
  std::uint32_t seed = 41;
  for (const auto& rc : {std::pair<std::int64_t, std::int64_t>{256, 7}, {3, 1000}, {1, 1}, {37, 33}}) {
    const auto [rows, cols] = rc;
    const std::string tag = "log_softmax " + std::to_string(rows) + "x" + std::to_string(cols);
    std::mt19937 gen(seed++);
    const auto x = random_vector<float>(rows * cols, gen, -5.f, 5.f), dy = random_vector<float>(rows * cols, gen);
    const auto prior = random_vector<float>(rows * cols, gen);
    std::vector<float> y(rows * cols);
    cpu::log_softmax_forward<float>(cpu_stream, rows, cols, x.data(), y.data());
    Buf dx_in(x), gy(std::vector<float>(y.size(), kNaN)), ddy(dy);
    kc::log_softmax_forward<float>(t.stream(), rows, cols, dx_in.get(), gy.get());
    require_close(gy.download(), y, 1e-5, 1e-5, tag + " forward");
    Buf dy_in(y);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = acc ? prior : std::vector<float>(y.size(), kNaN);
      cpu::log_softmax_backward<float>(cpu_stream, rows, cols, dy.data(), y.data(), dx.data(), acc);
      Buf gdx(acc ? prior : std::vector<float>(y.size(), kNaN));
      kc::log_softmax_backward<float>(t.stream(), rows, cols, ddy.get(), dy_in.get(), gdx.get(), acc);
      require_close(gdx.download(), dx, dot_atol(cols), 1e-5, tag + " backward" + (acc ? " accumulate" : " overwrite"));
    }
  }
}

TEST_CASE("cuda parity: fused softmax cross-entropy", "[cuda][loss]") {
  if (no_gpu()) return;
  GpuTest t;
  std::uint32_t seed = 51;
  for (const auto& rc : {std::pair<std::int64_t, std::int64_t>{256, 7}, {5, 3}, {1000, 10}})
    for (const bool weighted : {false, true})
      for (const double smoothing : {0.0, 0.1}) {
        const auto [rows, cols] = rc;
        std::ostringstream ts;
        ts << "cross_entropy " << rows << "x" << cols << (weighted ? " weighted" : "") << " smoothing " << smoothing;
        const std::string tag = ts.str();
        std::mt19937 gen(seed++);
        const auto logits = random_vector<float>(rows * cols, gen, -4.f, 4.f);
        const auto weight = random_vector<float>(cols, gen, 0.2f, 2.f);
        std::vector<std::int64_t> target(rows);
        std::uniform_int_distribution<std::int64_t> cls(0, cols - 1);
        for (auto& v : target) v = cls(gen);
        const float* wp = weighted ? weight.data() : nullptr;
        std::vector<float> logp(rows * cols);
        float loss = kNaN;
        std::int64_t bad_row = 0;
        cpu::cross_entropy_forward<float>(cpu_stream, rows, cols, logits.data(), target.data(), wp, smoothing,
                                          logp.data(), &loss, &bad_row);
        REQUIRE(bad_row == 0);
        Buf dlogits(logits), dweight(weight), glogp(std::vector<float>(logp.size(), kNaN));
        Buf gloss(std::vector<float>{kNaN});
        DeviceBuffer<std::int64_t> dtarget(target);
        DeviceBuffer<std::int64_t> flag(std::vector<std::int64_t>{0});
        kc::cross_entropy_forward<float>(t.stream(), rows, cols, dlogits.get(), dtarget.get(),
                                  weighted ? dweight.get() : nullptr, smoothing, glogp.get(), gloss.get(), flag.get());
        require_close(glogp.download(), logp, 1e-5, 1e-5, tag + " logp");
        require_close(gloss.download(), {loss}, 1e-6, 1e-5, tag + " loss");
        REQUIRE(flag.download()[0] == 0);

        Buf grad(std::vector<float>{0.7f});
        Buf glogp_in(logp);
        const auto prior = random_vector<float>(logp.size(), gen);
        for (const bool acc : {false, true}) {
          std::vector<float> d = acc ? prior : std::vector<float>(logp.size(), kNaN);
          const float g = 0.7f;
          cpu::cross_entropy_backward<float>(cpu_stream, rows, cols, logp.data(), target.data(), wp, smoothing, &g,
                                             d.data(), acc);
          Buf gd(acc ? prior : std::vector<float>(logp.size(), kNaN));
          kc::cross_entropy_backward<float>(t.stream(), rows, cols, glogp_in.get(), dtarget.get(),
                                            weighted ? dweight.get() : nullptr,
                                     smoothing, grad.get(), gd.get(), acc);
          require_close(gd.download(), d, 1e-7, 1e-5, tag + " backward" + (acc ? " accumulate" : " overwrite"));
        }
      }
  // A target outside [0, cols) is reported as 1 + its row, as the CPU twin does.
  std::vector<std::int64_t> bad = {0, 7, 2};
  Buf logits(std::vector<float>(3 * 7, 0.f)), logp(3 * 7), loss(1);
  DeviceBuffer<std::int64_t> dbad(bad);
  DeviceBuffer<std::int64_t> flag(std::vector<std::int64_t>{0});
  kc::cross_entropy_forward<float>(t.stream(), 3, 7, logits.get(), dbad.get(), nullptr, 0.0, logp.get(), loss.get(),
                                   flag.get());
  REQUIRE(flag.download()[0] == 2);
}

TEST_CASE("cuda parity: SGD multi-tensor step", "[cuda][optim]") {
  if (no_gpu()) return;
  GpuTest t;
  // Sizes around the kernel's chunking, and more tensors than one launch takes (70 > 64).
  std::vector<std::int64_t> sizes = {1, 1000, 4096, 4097, 70000, 0, 3};
  for (int i = 0; i < 63; ++i) sizes.push_back(17 + i);
  std::uint32_t seed = 61;
  for (const auto& o : {SgdStepOptions{0.1, 0.0, 0.0, 0.0, false}, SgdStepOptions{0.05, 0.9, 0.0, 5e-4, false},
                        SgdStepOptions{0.05, 0.9, 0.1, 1e-4, false}, SgdStepOptions{0.02, 0.9, 0.0, 5e-4, true}}) {
    std::ostringstream ts;
    ts << "sgd lr " << o.lr << " momentum " << o.momentum << " dampening " << o.dampening << " wd " << o.weight_decay
       << (o.nesterov ? " nesterov" : "");
    std::mt19937 gen(seed++);
    std::vector<std::vector<float>> p, g, buf;
    for (auto n : sizes) {
      p.push_back(random_vector<float>(n, gen));
      g.push_back(random_vector<float>(n, gen));
      buf.push_back(random_vector<float>(n, gen));
    }
    std::vector<std::unique_ptr<Buf>> dp, dg, dbuf;
    std::vector<k::ParamSlice<float>> slices;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      dp.push_back(std::make_unique<Buf>(p[i]));
      dg.push_back(std::make_unique<Buf>(g[i]));
      dbuf.push_back(std::make_unique<Buf>(std::vector<float>(sizes[i], kNaN)));  // first step never reads it
      slices.push_back({dp[i]->get(), dg[i]->get(), o.momentum != 0.0 ? dbuf[i]->get() : nullptr, nullptr, sizes[i]});
    }
    for (int step = 0; step < 3; ++step) {
      const bool first = step == 0;
      std::vector<k::ParamSlice<float>> host;
      for (std::size_t i = 0; i < sizes.size(); ++i)
        host.push_back({p[i].data(), g[i].data(), o.momentum != 0.0 ? buf[i].data() : nullptr, nullptr, sizes[i]});
      cpu::sgd_step<float>(cpu_stream, host.data(), static_cast<int>(host.size()), o, first);
      kc::sgd_step<float>(t.stream(), slices.data(), static_cast<int>(slices.size()), o, first);
    }
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const std::string tag = ts.str() + " tensor " + std::to_string(i) + " (" + std::to_string(sizes[i]) + ")";
      require_close(dp[i]->download(), p[i], 1e-6, 1e-5, tag + " param");
      if (o.momentum != 0.0) require_close(dbuf[i]->download(), buf[i], 1e-6, 1e-5, tag + " momentum buffer");
    }
  }
}

TEST_CASE("cuda parity: AdamW multi-tensor step", "[cuda][optim]") {
  if (no_gpu()) return;
  GpuTest t;
  const std::vector<std::int64_t> sizes = {1, 1000, 4097, 70000, 9408};
  std::mt19937 gen(71);
  std::vector<std::vector<float>> p, g, m, v;
  std::vector<std::unique_ptr<Buf>> dp, dg, dm, dv;
  std::vector<k::ParamSlice<float>> slices;
  for (auto n : sizes) {
    p.push_back(random_vector<float>(n, gen));
    g.push_back(random_vector<float>(n, gen));
    m.push_back(std::vector<float>(n, 0.f));
    v.push_back(std::vector<float>(n, 0.f));
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    dp.push_back(std::make_unique<Buf>(p[i]));
    dg.push_back(std::make_unique<Buf>(g[i]));
    dm.push_back(std::make_unique<Buf>(m[i]));
    dv.push_back(std::make_unique<Buf>(v[i]));
    slices.push_back({dp[i]->get(), dg[i]->get(), dm[i]->get(), dv[i]->get(), sizes[i]});
  }
  AdamWStepOptions o;
  o.lr = 1e-2;
  o.weight_decay = 0.05;
  for (std::int64_t step = 1; step <= 3; ++step) {
    o.step = step;
    std::vector<k::ParamSlice<float>> host;
    for (std::size_t i = 0; i < sizes.size(); ++i)
      host.push_back({p[i].data(), g[i].data(), m[i].data(), v[i].data(), sizes[i]});
    cpu::adamw_step<float>(cpu_stream, host.data(), static_cast<int>(host.size()), o);
    kc::adamw_step<float>(t.stream(), slices.data(), static_cast<int>(slices.size()), o);
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string tag = "adamw tensor " + std::to_string(i) + " (" + std::to_string(sizes[i]) + ")";
    require_close(dp[i]->download(), p[i], 1e-6, 1e-5, tag + " param");
    require_close(dm[i]->download(), m[i], 1e-7, 1e-5, tag + " exp_avg");
    require_close(dv[i]->download(), v[i], 1e-8, 1e-5, tag + " exp_avg_sq");
  }
}

TEST_CASE("cuda parity: global norm and clipping by it, read from the device", "[cuda][optim]") {
  if (no_gpu()) return;
  GpuTest t;
  // Sizes on both sides of the one-block reduction (16384) and an empty tensor.
  const std::vector<std::int64_t> sizes = {1, 1000, 70000, 0, 16385, 9408};
  std::mt19937 gen(91);
  std::vector<std::vector<float>> x;
  std::vector<std::unique_ptr<Buf>> dx;
  std::vector<k::Span<const float>> host_in, dev_in;
  for (auto n : sizes) {
    x.push_back(random_vector<float>(n, gen));
    dx.push_back(std::make_unique<Buf>(x.back()));
    host_in.push_back({x.back().data(), n});
    dev_in.push_back({dx.back()->get(), n});
  }
  double want = kNaN;
  cpu::total_norm<float>(cpu_stream, host_in.data(), static_cast<int>(sizes.size()), &want);
  DeviceBuffer<double> norm(std::vector<double>{kNaN});
  kc::total_norm<float>(t.stream(), dev_in.data(), static_cast<int>(sizes.size()), norm.get());
  const double got = norm.download()[0];
  INFO("[cuda parity] total_norm: cuda " << got << ", cpu " << want);
  CHECK(got == Approx(want).epsilon(1e-12));  // both sum in double; only the order differs

  for (const double max_norm : {want * 4.0, want / 3.0}) {  // untouched, then scaled
    std::vector<k::Span<float>> host_out, dev_out;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      host_out.push_back({x[i].data(), sizes[i]});
      dev_out.push_back({dx[i]->get(), sizes[i]});
    }
    cpu::clip_by_norm<float>(cpu_stream, host_out.data(), static_cast<int>(sizes.size()), &want, max_norm);
    kc::clip_by_norm<float>(t.stream(), dev_out.data(), static_cast<int>(sizes.size()), norm.get(), max_norm);
    for (std::size_t i = 0; i < sizes.size(); ++i)
      require_close(dx[i]->download(), x[i], 0.0, 1e-6,
                    "clip_by_norm max " + std::to_string(max_norm) + " tensor " + std::to_string(i));
  }
}

TEST_CASE("cuda parity: batched affine warp", "[cuda][augment]") {
  if (no_gpu()) return;
  GpuTest t;
  const std::int64_t n = 6, h = 48, w = 64;
  std::mt19937 gen(81);
  const auto src = random_vector<float>(n * h * w, gen, 0.f, 1.f);
  std::vector<AffineMatrix> mats(n);
  mats[0] = {{1, 0, 0, 0, 1, 0}};              // identity: exact
  mats[1] = {{-1, 0, float(w - 1), 0, 1, 0}};  // horizontal flip: exact
  for (std::int64_t i = 2; i < n; ++i) {       // rotation, scale, translation
    const float a = 0.1f * float(i), s = 0.9f + 0.05f * float(i), tx = 1.5f * float(i) - 4.f,
                ty = 2.f - 0.7f * float(i);
    const float cx = 0.5f * float(w - 1), cy = 0.5f * float(h - 1);
    const float m0 = s * std::cos(a), m1 = -s * std::sin(a), m3 = s * std::sin(a), m4 = s * std::cos(a);
    mats[i] = {{m0, m1, cx - m0 * cx - m1 * cy + tx, m3, m4, cy - m3 * cx - m4 * cy + ty}};
  }
  mats[n - 1].m[2] += 1e6f;  // far outside: all fill
  std::vector<float> want(n * h * w);
  cpu::affine_warp<float>(cpu_stream, n, h, w, src.data(), mats.data(), 0.25f, want.data());
  Buf dsrc(src), dst(std::vector<float>(n * h * w, kNaN));
  DeviceBuffer<AffineMatrix> dmats(mats);
  kc::affine_warp<float>(t.stream(), n, h, w, dsrc.get(), dmats.get(), 0.25f, dst.get());
  const auto got = dst.download();
  // Off integer coordinates, one rounding step in sx (an ulp is 4e-6 at 60) moves the sample by
  // that much times the local slope (pixels are in [0, 1]); the CPU twin may contract to FMA.
  require_close(got, want, 2e-5, 1e-5, "affine_warp batch");
  const auto image = [&](const std::vector<float>& v, std::int64_t i) {
    return std::vector<float>(v.begin() + i * h * w, v.begin() + (i + 1) * h * w);
  };
  require_equal(image(got, 0), image(src, 0), "affine_warp identity");
  require_equal(image(got, 1), image(want, 1), "affine_warp horizontal flip");
}

TEST_CASE("cuda: no cudaMalloc or cudaFree when a call is repeated", "[cuda][memory]") {
  // The kernel-level half of "a steady-state step allocates nothing": after a first call of
  // each shape (which may plan algorithms and grow the workspace), the same calls again must
  // not touch the driver's allocator. The allocator-level test lives with core.
  if (no_gpu()) return;
  GpuTest t;
  const auto g = conv(4, 64, 16, 128, 3, 2, 1);
  const k::BatchNormGeometry bg{4, 128, g.oh * g.ow};
  std::mt19937 gen(91);
  Buf x(random_vector<float>(g.n * g.c * g.h * g.w, gen)), w(random_vector<float>(g.k * g.c * g.r * g.s, gen));
  Buf y(g.n * g.k * g.oh * g.ow), dy(random_vector<float>(y.size(), gen)), dx(x.size()), dw(w.size()), db(g.k);
  Buf gamma(random_vector<float>(g.k, gen)), beta(random_vector<float>(g.k, gen)), rm(g.k), rv(random_vector<float>(g.k, gen, 0.5f, 1.f));
  Buf sm(g.k), si(g.k), ybn(y.size());
  Buf logits(random_vector<float>(64 * 7, gen)), logp(64 * 7), loss(1), cw(random_vector<float>(7, gen, 0.5f, 1.f)), s(1);
  DeviceBuffer<std::int64_t> target(std::vector<std::int64_t>(64, 3));
  DeviceBuffer<std::int64_t> flag(std::vector<std::int64_t>{0});
  auto step = [&]() {
    for (const auto& backend : kc::conv_backends<float>()) {
      kc::set_conv_backend(backend.name);
      kc::conv2d_forward<float>(t.stream(), g, x.get(), w.get(), nullptr, y.get());
      kc::conv2d_backward_input<float>(t.stream(), g, dy.get(), w.get(), dx.get(), false);
      kc::conv2d_backward_weight<float>(t.stream(), g, x.get(), dy.get(), dw.get(), false);
      kc::conv2d_backward_bias<float>(t.stream(), g, dy.get(), db.get(), false);
    }
    kc::batch_norm_forward_train<float>(t.stream(), bg, y.get(), gamma.get(), beta.get(), 1e-5, 0.1, rm.get(),
                                        rv.get(), ybn.get(),
                                 sm.get(), si.get());
    kc::batch_norm_backward<float>(t.stream(), bg, true, dy.get(), y.get(), nullptr, gamma.get(), sm.get(), si.get(), 1e-5, dx.get(), false, db.get(),
                            db.get(), false);
    kc::cross_entropy_forward<float>(t.stream(), 64, 7, logits.get(), target.get(), cw.get(), 0.1, logp.get(),
                                     loss.get(), flag.get());
    kc::cross_entropy_backward<float>(t.stream(), 64, 7, logp.get(), target.get(), cw.get(), 0.1, loss.get(),
                                      logits.get(), false);
    kc::sum<float>(t.stream(), y.size(), y.get(), 1.0, s.get());
    kc::gemm<float>(t.stream(), false, true, 64, 128, 256, 1.f, y.get(), 256, dy.get(), 256, 0.f, dx.get(), 128);
    kc::synchronize(0);
  };
  step();
  const auto before = kc::driver_counters();
  step();
  step();
  const auto after = kc::driver_counters();
  std::cout << "[cuda] driver mallocs " << before.mallocs << " -> " << after.mallocs << ", frees " << before.frees
            << " -> " << after.frees << std::endl;
  CHECK(after.mallocs == before.mallocs);
  CHECK(after.frees == before.frees);
}

// ---------------------------------------------------------------------------------------------
// The torch-named ops of issue 24: pointwise maps, strided copies, index ops, reductions over a
// dim, softmax. CPU and CUDA share the per-element formulas (pointwise_math.h, indexing_math.h),
// so these check the launches, the grid-stride loops and the indexing.
// ---------------------------------------------------------------------------------------------

// Runs an output-writing kernel on both devices and compares: `cpu_run(out)` and
// `gpu_run(out_device)` with out pre-filled with NaN (overwrite) or `prior` (accumulate).
template <typename CpuRun, typename GpuRun>
void both_ways(std::size_t n, const std::vector<float>& prior, bool accumulate, CpuRun cpu_run, GpuRun gpu_run,
               const std::string& what, double atol = 1e-6, double rtol = 1e-5) {
  std::vector<float> want = accumulate ? prior : std::vector<float>(n, kNaN);
  cpu_run(want.data());
  Buf got(accumulate ? prior : std::vector<float>(n, kNaN));
  gpu_run(got.get());
  require_close(got.download(), want, atol, rtol, what + (accumulate ? " accumulate" : " overwrite"));
}

TEST_CASE("cuda parity: unary and binary pointwise ops, where, dropout mask", "[cuda][pointwise]") {
  if (no_gpu()) return;
  GpuTest t;
  for (const std::int64_t n : {std::int64_t(1), std::int64_t(777), std::int64_t(70001)}) {
    std::mt19937 gen(static_cast<std::uint32_t>(n));
    const auto x = random_vector<float>(n, gen, -3.f, 3.f), pos = random_vector<float>(n, gen, 0.5f, 2.f);
    const auto dy = random_vector<float>(n, gen), prior = random_vector<float>(n, gen);
    Buf dx_in(x), dpos(pos), ddy(dy);
    const std::string tag = " n=" + std::to_string(n);
    const std::vector<std::pair<std::string, k::UnaryOp>> unary = {
        {"neg", {k::Unary::Neg}},          {"exp", {k::Unary::Exp}},         {"log", {k::Unary::Log}},
        {"sqrt", {k::Unary::Sqrt}},        {"abs", {k::Unary::Abs}},         {"sigmoid", {k::Unary::Sigmoid}},
        {"tanh", {k::Unary::Tanh}},        {"gelu", {k::Unary::Gelu}},       {"silu", {k::Unary::Silu}},
        {"clamp", {k::Unary::Clamp, -0.5, 0.75}}, {"pow", {k::Unary::Pow, 2.5}}, {"affine", {k::Unary::Affine, -2, 0.5}},
        {"rdiv", {k::Unary::Rdiv, 1.5}}};
    for (const auto& [name, op] : unary) {
      // log, sqrt, pow and rdiv on positive inputs (their domain), the rest on [-3, 3].
      const bool positive = name == "log" || name == "sqrt" || name == "pow" || name == "rdiv";
      const std::vector<float>& in = positive ? pos : x;
      const Buf& din = positive ? dpos : dx_in;
      std::vector<float> y(n);
      cpu::unary_forward<float>(cpu_stream, n, op, in.data(), y.data());
      Buf gy(std::vector<float>(n, kNaN));
      kc::unary_forward<float>(t.stream(), n, op, din.get(), gy.get());
      require_close(gy.download(), y, 1e-6, 1e-5, name + " forward" + tag);
      Buf dy_saved(y);
      for (const bool acc : {false, true})
        both_ways(
            n, prior, acc, [&](float* o) { cpu::unary_backward<float>(cpu_stream, n, op, dy.data(), in.data(), y.data(), o, acc); },
            [&](float* o) { kc::unary_backward<float>(t.stream(), n, op, ddy.get(), din.get(), dy_saved.get(), o, acc); },
            name + " backward" + tag);
    }
    for (const auto& [name, op] : std::vector<std::pair<std::string, k::Binary>>{
             {"add", k::Binary::Add}, {"sub", k::Binary::Sub}, {"mul", k::Binary::Mul}, {"div", k::Binary::Div},
             {"pow", k::Binary::Pow}, {"gt", k::Binary::Gt}, {"eq", k::Binary::Eq}}) {
      std::vector<float> y(n);
      cpu::binary_forward<float>(cpu_stream, n, op, pos.data(), x.data(), y.data());
      Buf gy(std::vector<float>(n, kNaN));
      kc::binary_forward<float>(t.stream(), n, op, dpos.get(), dx_in.get(), gy.get());
      require_close(gy.download(), y, 1e-6, 1e-5, name + " forward" + tag);
      Buf ysaved(y);
      for (const bool acc : {false, true}) {
        // Both gradients in one call: a with one accumulate flag, b with the other.
        std::vector<float> da = acc ? prior : std::vector<float>(n, kNaN), db = acc ? std::vector<float>(n, kNaN) : prior;
        cpu::binary_backward<float>(cpu_stream, n, op, dy.data(), pos.data(), x.data(), y.data(), da.data(), acc,
                                    db.data(), !acc);
        Buf gda(acc ? prior : std::vector<float>(n, kNaN)), gdb(acc ? std::vector<float>(n, kNaN) : prior);
        kc::binary_backward<float>(t.stream(), n, op, ddy.get(), dpos.get(), dx_in.get(), ysaved.get(), gda.get(), acc,
                                   gdb.get(), !acc);
        require_close(gda.download(), da, 1e-6, 1e-5, name + " backward a" + tag);
        require_close(gdb.download(), db, 1e-6, 1e-5, name + " backward b" + tag);
      }
    }
    // where: the condition from the sign of x.
    std::vector<float> cond(n);
    for (std::int64_t i = 0; i < n; ++i) cond[i] = x[i] > 0 ? 1.f : 0.f;
    Buf dcond(cond);
    std::vector<float> w(n);
    cpu::where_forward<float>(cpu_stream, n, cond.data(), x.data(), pos.data(), w.data());
    Buf gw(std::vector<float>(n, kNaN));
    kc::where_forward<float>(t.stream(), n, dcond.get(), dx_in.get(), dpos.get(), gw.get());
    require_equal(gw.download(), w, "where forward" + tag);
    for (const bool acc : {false, true})
      both_ways(
          n, prior, acc, [&](float* o) { cpu::where_backward<float>(cpu_stream, n, cond.data(), dy.data(), o, acc, nullptr, false); },
          [&](float* o) { kc::where_backward<float>(t.stream(), n, dcond.get(), ddy.get(), o, acc, nullptr, false); },
          "where backward (a)" + tag);
    // The dropout mask: the same bits on both devices for the same seed.
    std::vector<float> mask(n);
    cpu::dropout_mask<float>(cpu_stream, n, 0.7, 12345, mask.data());
    Buf gm(std::vector<float>(n, kNaN));
    kc::dropout_mask<float>(t.stream(), n, 0.7, 12345, gm.get());
    require_equal(gm.download(), mask, "dropout mask" + tag);
  }
}

TEST_CASE("cuda parity: strided copy, index_select and gather", "[cuda][indexing]") {
  if (no_gpu()) return;
  GpuTest t;
  std::mt19937 gen(7);
  // A [3, 4, 5] tensor permuted to [5, 3, 4], and expanded from [3, 1, 5] to [3, 4, 5].
  const auto x = random_vector<float>(60, gen), prior = random_vector<float>(60, gen);
  Buf dx(x);
  k::StridedCopy perm;
  perm.rank = 3;
  const std::int64_t ps[3] = {5, 3, 4}, pst[3] = {1, 20, 5}, pdst[3] = {12, 4, 1};
  for (int d = 0; d < 3; ++d) perm.shape[d] = ps[d], perm.src_stride[d] = pst[d], perm.dst_stride[d] = pdst[d];
  for (const bool acc : {false, true})
    both_ways(60, prior, acc, [&](float* o) { cpu::strided_copy<float>(cpu_stream, perm, x.data(), o, acc); },
              [&](float* o) { kc::strided_copy<float>(t.stream(), perm, dx.get(), o, acc); }, "strided copy (permute)", 0, 0);
  k::StridedCopy ex = perm;
  const std::int64_t es[3] = {3, 4, 5}, est[3] = {5, 0, 1}, edst[3] = {20, 5, 1};
  for (int d = 0; d < 3; ++d) ex.shape[d] = es[d], ex.src_stride[d] = est[d], ex.dst_stride[d] = edst[d];
  both_ways(60, prior, false, [&](float* o) { cpu::strided_copy<float>(cpu_stream, ex, x.data(), o, false); },
            [&](float* o) { kc::strided_copy<float>(t.stream(), ex, dx.get(), o, false); }, "strided copy (expand)", 0, 0);

  // index_select along the middle of [3, 4, 5]: 6 picks with repeats (their gradients add up).
  const k::IndexGeometry g{3, 4, 5, 6};
  const std::vector<std::int64_t> idx = {3, 0, 3, 1, 1, 3};
  DeviceBuffer<std::int64_t> didx(idx), bad(std::vector<std::int64_t>{0});
  std::int64_t cpu_bad = 0;
  both_ways(90, {}, false, [&](float* o) { cpu::index_select_forward<float>(cpu_stream, g, x.data(), idx.data(), o, &cpu_bad); },
            [&](float* o) { kc::index_select_forward<float>(t.stream(), g, dx.get(), didx.get(), o, bad.get()); },
            "index_select forward", 0, 0);
  REQUIRE(bad.download()[0] == 0);
  const auto dy = random_vector<float>(90, gen);
  Buf ddy(dy);
  for (const bool acc : {false, true})
    both_ways(60, prior, acc, [&](float* o) { cpu::index_select_backward<float>(cpu_stream, g, dy.data(), idx.data(), o, acc); },
              [&](float* o) { kc::index_select_backward<float>(t.stream(), g, ddy.get(), didx.get(), o, acc); },
              "index_select backward");
  // A bad index is reported (1 + its position), not read.
  DeviceBuffer<std::int64_t> dbadidx(std::vector<std::int64_t>{0, 9, 0, 0, 0, 0});
  Buf junk(std::vector<float>(90, kNaN));
  kc::index_select_forward<float>(t.stream(), g, dx.get(), dbadidx.get(), junk.get(), bad.get());
  REQUIRE(bad.download()[0] == 2);

  // gather along the last dim of [3, 4, 5] with an index [3, 4, 2].
  const k::IndexGeometry gg{12, 5, 1, 2};
  std::vector<std::int64_t> gidx(24);
  for (auto& v : gidx) v = std::uniform_int_distribution<std::int64_t>(0, 4)(gen);
  DeviceBuffer<std::int64_t> dgidx(gidx), gbad(std::vector<std::int64_t>{0});
  both_ways(24, {}, false, [&](float* o) { cpu::gather_forward<float>(cpu_stream, gg, x.data(), gidx.data(), o, &cpu_bad); },
            [&](float* o) { kc::gather_forward<float>(t.stream(), gg, dx.get(), dgidx.get(), o, gbad.get()); },
            "gather forward", 0, 0);
  REQUIRE(cpu_bad == 0);
  REQUIRE(gbad.download()[0] == 0);
  for (const bool acc : {false, true})
    both_ways(60, prior, acc, [&](float* o) { cpu::gather_backward<float>(cpu_stream, gg, dy.data(), gidx.data(), o, acc); },
              [&](float* o) { kc::gather_backward<float>(t.stream(), gg, ddy.get(), dgidx.get(), o, acc); },
              "gather backward");
}

TEST_CASE("cuda parity: sum over dims, max/min over a dim, softmax and log_softmax", "[cuda][reduce_dim]") {
  if (no_gpu()) return;
  GpuTest t;
  std::mt19937 gen(11);
  // [4, 6, 7]: sum over dims {0, 2} and over the middle; max and softmax over each dim.
  const std::vector<std::int64_t> s = {4, 6, 7};
  const auto x = random_vector<float>(168, gen, -2.f, 2.f), prior = random_vector<float>(168, gen), dy = random_vector<float>(168, gen);
  Buf dx(x), ddy(dy);
  for (const std::vector<bool>& red : std::vector<std::vector<bool>>{{true, false, true}, {false, true, false}}) {
    k::ReduceGeometry g;
    g.rank = 3;
    const std::int64_t st[3] = {42, 7, 1};
    std::int64_t m = 1;
    for (int d = 0; d < 3; ++d) {
      g.kept[d] = red[d] ? 1 : s[d];
      g.reduced[d] = red[d] ? s[d] : 1;
      g.stride[d] = st[d];
      m *= g.kept[d];
    }
    for (const bool acc : {false, true})
      both_ways(m, std::vector<float>(prior.begin(), prior.begin() + m), acc,
                [&](float* o) { cpu::reduce_sum<float>(cpu_stream, g, 0.5, x.data(), o, acc); },
                [&](float* o) { kc::reduce_sum<float>(t.stream(), g, 0.5, dx.get(), o, acc); }, "reduce_sum", 1e-6, 1e-5);
  }
  for (std::int64_t d = 0; d < 3; ++d) {
    k::DimGeometry g{1, s[d], 1};
    for (std::int64_t i = 0; i < d; ++i) g.outer *= s[i];
    for (std::int64_t i = d + 1; i < 3; ++i) g.inner *= s[i];
    const std::int64_t rows = g.outer * g.inner;
    const std::string tag = " over dim " + std::to_string(d);
    for (const bool is_min : {false, true}) {
      std::vector<float> v(rows);
      std::vector<std::int64_t> ix(rows);
      cpu::max_dim_forward<float>(cpu_stream, g, is_min, x.data(), v.data(), ix.data());
      Buf gv(std::vector<float>(rows, kNaN));
      DeviceBuffer<std::int64_t> gix(std::vector<std::int64_t>(rows, -1));
      kc::max_dim_forward<float>(t.stream(), g, is_min, dx.get(), gv.get(), gix.get());
      require_equal(gv.download(), v, (is_min ? "min" : "max") + tag);
      REQUIRE(gix.download() == ix);
      for (const bool acc : {false, true})
        both_ways(168, prior, acc, [&](float* o) { cpu::max_dim_backward<float>(cpu_stream, g, dy.data(), ix.data(), o, acc); },
                  [&](float* o) { kc::max_dim_backward<float>(t.stream(), g, ddy.get(), gix.get(), o, acc); },
                  (is_min ? "min backward" : "max backward") + tag, 0, 0);
    }
    for (const bool log : {false, true}) {
      const std::string name = (log ? "log_softmax" : "softmax") + tag;
      std::vector<float> y(168);
      cpu::softmax_forward<float>(cpu_stream, g, log, x.data(), y.data());
      Buf gy(std::vector<float>(168, kNaN));
      kc::softmax_forward<float>(t.stream(), g, log, dx.get(), gy.get());
      require_close(gy.download(), y, 1e-6, 1e-5, name + " forward");
      Buf ysaved(y);
      for (const bool acc : {false, true})
        both_ways(168, prior, acc, [&](float* o) { cpu::softmax_backward<float>(cpu_stream, g, log, dy.data(), y.data(), o, acc); },
                  [&](float* o) { kc::softmax_backward<float>(t.stream(), g, log, ddy.get(), ysaved.get(), o, acc); },
                  name + " backward");
    }
  }
}

TEST_CASE("cuda parity: avg_pool2d forward and backward", "[cuda][pool]") {
  if (no_gpu()) return;
  GpuTest t;
  std::mt19937 gen(13);
  for (const auto& [k, st, p] : std::vector<std::tuple<int, int, int>>{{2, 2, 0}, {3, 2, 1}, {3, 1, 1}}) {
    k::Pool2dGeometry g{2, 3, 9, 7, k, k, st, st, p, p, 0, 0};
    REQUIRE(g.finalize());
    const std::size_t nin = 2 * 3 * 9 * 7, nout = static_cast<std::size_t>(2 * 3 * g.oh * g.ow);
    const auto x = random_vector<float>(nin, gen), dy = random_vector<float>(nout, gen), prior = random_vector<float>(nin, gen);
    Buf dx(x), ddy(dy);
    for (const bool inc : {true, false}) {
      const std::string tag = " k" + std::to_string(k) + " s" + std::to_string(st) + " p" + std::to_string(p) +
                              (inc ? " count_include_pad" : "");
      both_ways(nout, {}, false, [&](float* o) { cpu::avg_pool2d_forward<float>(cpu_stream, g, inc, x.data(), o); },
                [&](float* o) { kc::avg_pool2d_forward<float>(t.stream(), g, inc, dx.get(), o); }, "avg_pool2d forward" + tag);
      for (const bool acc : {false, true})
        both_ways(nin, prior, acc, [&](float* o) { cpu::avg_pool2d_backward<float>(cpu_stream, g, inc, dy.data(), o, acc); },
                  [&](float* o) { kc::avg_pool2d_backward<float>(t.stream(), g, inc, ddy.get(), o, acc); },
                  "avg_pool2d backward" + tag);
    }
  }
}

#else  // !MINIDL_WITH_CUDA

TEST_CASE("cuda parity", "[cuda]") { minidl::test::no_gpu(); }

#endif
