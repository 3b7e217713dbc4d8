// The CPU kernels on their own, below Tensor and autograd: the fast convolution against the
// reference loops over many geometries, and every other kernel on small cases whose answers
// were worked out by hand (the derivations are in the comments). Outputs that a kernel must
// overwrite are pre-filled with +inf, so an element it forgets to write fails the test.
#include <omp.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/kernels/batch_norm.h"
#include "minidl/config.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/cpu/conv2d_backends.h"
#include "minidl/kernels/elementwise.h"
#include "minidl/kernels/linear.h"
#include "minidl/kernels/loss.h"
#include "minidl/kernels/optim.h"
#include "minidl/kernels/pool.h"
#include "support.h"

namespace k = minidl::kernels;
namespace cpu = minidl::kernels::cpu;
constexpr cpu::Stream cpu_stream;  // the CPU kernels' first argument
using Catch::Matchers::Contains;
using minidl::test::random_vector;
using minidl::AdamWStepOptions;
using minidl::SgdStepOptions;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The suite's comparison (support.h) with atol = rtol = tol: every element within
// tol * (1 + |want|).
template <typename T, typename U>
void require_close(const std::vector<T>& got, const std::vector<U>& want, double tol, const std::string& what) {
  minidl::test::require_close(got, want, tol, tol, what);
}
template <typename T>
void require_close(const std::vector<T>& got, std::initializer_list<double> want, double tol, const std::string& what) {
  minidl::test::require_close(got, std::vector<double>(want), tol, tol, what);
}

// Relative tolerance for comparing a result of type T with a reference.
template <typename T>
constexpr double tolerance() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

// ---------------------------------------------------------------------------------------------
// Convolution: fast path against the reference
// ---------------------------------------------------------------------------------------------

k::Conv2dGeometry conv_geometry(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t kout,
                                std::int64_t r, std::int64_t s, std::int64_t sh, std::int64_t sw, std::int64_t ph,
                                std::int64_t pw) {
  k::Conv2dGeometry g{n, c, h, w, kout, r, s, sh, sw, ph, pw, 0, 0};
  REQUIRE(g.finalize());
  return g;
}

// g with groups and dilation.
k::Conv2dGeometry with_groups(k::Conv2dGeometry g, std::int64_t groups, std::int64_t dh = 1, std::int64_t dw = 1) {
  g.groups = groups;
  g.dilation_h = dh;
  g.dilation_w = dw;
  REQUIRE(g.finalize());
  return g;
}

// Unit roundoff of T: the relative error of one rounding.
template <typename T>
constexpr double unit_roundoff() {
  return std::numeric_limits<T>::epsilon() / 2;
}

// Every element finite and |got - exact| <= factor * u * magnitude, where exact is the result
// in double and magnitude is the same sum over absolute values (sum |x w|): any summation order
// in T stays within about K * u * magnitude of exact, in practice a few u * magnitude, while a
// wrong, missing or extra term moves the result by that term's size, far above the bound.
template <typename T>
void require_within_rounding(const std::vector<T>& got, const std::vector<double>& exact,
                             const std::vector<double>& magnitude, double factor, const std::string& what) {
  INFO(what);
  REQUIRE(got.size() == exact.size());
  double worst = 0.0;  // in units of u * magnitude
  std::size_t worst_at = 0;
  bool finite = true;
  for (std::size_t i = 0; i < got.size(); ++i) {
    finite = finite && std::isfinite(static_cast<double>(got[i]));
    const double bound = unit_roundoff<T>() * (magnitude[i] + 1e-30);
    const double ratio = std::abs(static_cast<double>(got[i]) - exact[i]) / bound;
    if (!(ratio <= worst)) {
      worst = ratio;
      worst_at = i;
    }
  }
  INFO("worst error " << worst << " u * magnitude at " << worst_at << ": got " << got[worst_at] << ", exact "
                      << exact[worst_at] << ", magnitude " << magnitude[worst_at]);
  REQUIRE(finite);
  REQUIRE(worst <= factor);
}

template <typename T>
std::vector<double> to_double(const std::vector<T>& v, bool absolute = false) {
  std::vector<double> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = absolute ? std::abs(static_cast<double>(v[i])) : v[i];
  return out;
}

// The fast path in T against the reference loops run in double on the same inputs. Measured on
// the 2-core AMD EPYC (Zen 5, 2026-12-01) over every geometry and implementation, the worst error
// was 4.3 u * magnitude (oneDNN 2.6.3 runs its avx2 kernels there); the bound is 40, about ten
// times that, and still far below one dropped term.
// The reference backend: convolution by its definition, in double.
const cpu::ConvBackend<double>& reference() { return cpu::find_conv_backend<double>("reference"); }

template <typename T>
void check_conv_fast_against_ref(const k::Conv2dGeometry& g, std::uint32_t seed) {
  INFO("n=" << g.n << " c=" << g.c << " " << g.h << "x" << g.w << " k=" << g.k << " kernel " << g.r << "x" << g.s
            << " stride " << g.stride_h << "," << g.stride_w << " pad " << g.pad_h << "," << g.pad_w << " dilation "
            << g.dilation_h << "," << g.dilation_w << " groups " << g.groups << " -> " << g.oh << "x" << g.ow
            << (std::is_same_v<T, float> ? " float32" : " float64"));
  constexpr double factor = 40;
  std::mt19937 gen(seed);
  const std::size_t nx = g.n * g.c * g.h * g.w, nw = g.k * g.c_per_group() * g.r * g.s, ny = g.n * g.k * g.oh * g.ow;
  const auto x = random_vector<T>(nx, gen), wt = random_vector<T>(nw, gen), bias = random_vector<T>(g.k, gen);
  const auto dy = random_vector<T>(ny, gen);
  const auto xd = to_double(x), wd = to_double(wt), bd = to_double(bias), dyd = to_double(dy);
  const auto xa = to_double(x, true), wa = to_double(wt, true), ba = to_double(bias, true), dya = to_double(dy, true);
  const T inf = static_cast<T>(kInf), prior = static_cast<T>(0.5);

  for (const bool with_bias : {true, false}) {
    std::vector<T> y(ny, inf);
    std::vector<double> exact(ny, kInf), magnitude(ny, kInf);
    cpu::conv2d_forward(cpu_stream, g, x.data(), wt.data(), with_bias ? bias.data() : nullptr, y.data());
    reference().forward(cpu_stream, g, xd.data(), wd.data(), with_bias ? bd.data() : nullptr, exact.data());
    reference().forward(cpu_stream, g, xa.data(), wa.data(), with_bias ? ba.data() : nullptr, magnitude.data());
    require_within_rounding(y, exact, magnitude, factor, with_bias ? "forward with bias" : "forward without bias");
  }

  // Backward input and weight, overwriting (+inf before) and accumulating (0.5 before).
  {
    std::vector<T> dx(nx, inf), dx_acc(nx, prior);
    std::vector<double> exact(nx, kInf), magnitude(nx, kInf);
    cpu::conv2d_backward_input(cpu_stream, g, dy.data(), wt.data(), dx.data(), false);
    cpu::conv2d_backward_input(cpu_stream, g, dy.data(), wt.data(), dx_acc.data(), true);
    reference().backward_data(cpu_stream, g, dyd.data(), wd.data(), exact.data(), false);
    reference().backward_data(cpu_stream, g, dya.data(), wa.data(), magnitude.data(), false);
    require_within_rounding(dx, exact, magnitude, factor, "backward_input overwrite");
    for (std::size_t i = 0; i < nx; ++i) {
      exact[i] += 0.5;
      magnitude[i] += 0.5;
    }
    require_within_rounding(dx_acc, exact, magnitude, factor, "backward_input accumulate");
  }
  {
    std::vector<T> dw(nw, inf), dw_acc(nw, prior);
    std::vector<double> exact(nw, kInf), magnitude(nw, kInf);
    cpu::conv2d_backward_weight(cpu_stream, g, x.data(), dy.data(), dw.data(), false);
    cpu::conv2d_backward_weight(cpu_stream, g, x.data(), dy.data(), dw_acc.data(), true);
    reference().backward_filter(cpu_stream, g, xd.data(), dyd.data(), exact.data(), false);
    reference().backward_filter(cpu_stream, g, xa.data(), dya.data(), magnitude.data(), false);
    require_within_rounding(dw, exact, magnitude, factor, "backward_weight overwrite");
    for (std::size_t i = 0; i < nw; ++i) {
      exact[i] += 0.5;
      magnitude[i] += 0.5;
    }
    require_within_rounding(dw_acc, exact, magnitude, factor, "backward_weight accumulate");
  }

  // The reference loops accumulating must be the reference overwriting plus what was there.
  {
    std::vector<double> dx_ref(nx, kInf), dx_ref_acc(nx, 0.5);
    reference().backward_data(cpu_stream, g, dyd.data(), wd.data(), dx_ref.data(), false);
    reference().backward_data(cpu_stream, g, dyd.data(), wd.data(), dx_ref_acc.data(), true);
    for (auto& v : dx_ref) v += 0.5;
    require_close(dx_ref_acc, dx_ref, 1e-12, "reference backward_input accumulate = overwrite + 0.5");
    std::vector<double> dw_ref(nw, kInf), dw_ref_acc(nw, 0.5);
    reference().backward_filter(cpu_stream, g, xd.data(), dyd.data(), dw_ref.data(), false);
    reference().backward_filter(cpu_stream, g, xd.data(), dyd.data(), dw_ref_acc.data(), true);
    for (auto& v : dw_ref) v += 0.5;
    require_close(dw_ref_acc, dw_ref, 1e-12, "reference backward_weight accumulate = overwrite + 0.5");
  }

  // The bias gradient has no reference kernel: it is the plain sum of dy per output channel.
  std::vector<double> db_want(g.k, 0.0), db_mag(g.k, 0.0);
  for (std::int64_t b = 0; b < g.n; ++b)
    for (std::int64_t kk = 0; kk < g.k; ++kk)
      for (std::int64_t j = 0; j < g.oh * g.ow; ++j) {
        db_want[kk] += dyd[(b * g.k + kk) * g.oh * g.ow + j];
        db_mag[kk] += dya[(b * g.k + kk) * g.oh * g.ow + j];
      }
  std::vector<T> db(g.k, inf), db_acc(g.k, prior);
  cpu::conv2d_backward_bias(cpu_stream, g, dy.data(), db.data(), false);
  cpu::conv2d_backward_bias(cpu_stream, g, dy.data(), db_acc.data(), true);
  require_within_rounding(db, db_want, db_mag, factor, "backward_bias overwrite");
  for (std::size_t i = 0; i < db_want.size(); ++i) {
    db_want[i] += 0.5;
    db_mag[i] += 0.5;
  }
  require_within_rounding(db_acc, db_want, db_mag, factor, "backward_bias accumulate");
}

// Geometries chosen to cover every path of the fast implementation: the pointwise shortcut
// (1x1 stride 1, one image per GEMM when the map is large), strided and padded unrolling,
// taps that fall entirely in the padding, several images per GEMM with a ragged last chunk
// (67 images of 4x4), the shapes ResNet-18 uses, and groups and dilation (one GEMM per group;
// dilated unrolling, with taps that land in the padding on one side only).
std::vector<k::Conv2dGeometry> grouped_geometries() {
  return {
      with_groups(conv_geometry(2, 6, 7, 6, 6, 3, 3, 1, 1, 1, 1), 6),             // depthwise, k = c
      with_groups(conv_geometry(3, 4, 9, 8, 8, 3, 3, 2, 2, 1, 1), 4),             // depthwise, k = 2c, stride 2
      with_groups(conv_geometry(67, 4, 4, 4, 4, 3, 3, 1, 1, 1, 1), 4),            // depthwise, ragged chunks
      with_groups(conv_geometry(2, 4, 6, 7, 6, 2, 3, 1, 1, 0, 1), 2),             // two groups, bias per group
      with_groups(conv_geometry(2, 6, 32, 32, 4, 1, 1, 1, 1, 0, 0), 2),           // pointwise, two groups
      with_groups(conv_geometry(2, 3, 11, 10, 4, 3, 3, 2, 2, 2, 2), 1, 2, 2),     // dilation 2, stride 2, pad 2
      with_groups(conv_geometry(1, 2, 12, 13, 3, 3, 2, 1, 2, 1, 3), 1, 3, 2),     // dilation (3, 2), rectangular
      with_groups(conv_geometry(3, 6, 10, 9, 9, 3, 3, 1, 2, 2, 1), 3, 2, 3),      // groups 3 and dilation (2, 3)
      with_groups(conv_geometry(32, 8, 2, 2, 8, 3, 3, 1, 1, 2, 2), 4, 2, 2),      // 2x2 maps at batch 32 (taps' shape)
  };
}

std::vector<k::Conv2dGeometry> conv_geometries() {
  std::vector<k::Conv2dGeometry> v = {
      conv_geometry(3, 4, 5, 6, 5, 1, 1, 1, 1, 0, 0),     // 1x1, several images per GEMM
      conv_geometry(2, 3, 32, 32, 4, 1, 1, 1, 1, 0, 0),   // 1x1 on a large map: the image is the matrix
      conv_geometry(3, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1),     // 3x3 pad 1
      conv_geometry(2, 2, 33, 31, 3, 3, 3, 1, 1, 1, 1),   // 3x3 pad 1, one image per GEMM, odd sizes
      conv_geometry(3, 1, 13, 11, 4, 7, 7, 2, 2, 3, 3),   // the stem: 7x7 stride 2 pad 3, c = 1
      conv_geometry(1, 5, 9, 8, 6, 3, 3, 2, 2, 1, 1),     // 3x3 stride 2, batch 1
      conv_geometry(3, 4, 7, 7, 3, 1, 1, 2, 2, 0, 0),     // 1x1 stride 2 (downsample)
      conv_geometry(3, 2, 5, 9, 3, 2, 3, 1, 2, 1, 0),     // rectangular kernel, unequal strides
      conv_geometry(2, 2, 3, 3, 2, 5, 5, 2, 2, 2, 2),     // kernel wider than the image
      conv_geometry(67, 3, 4, 4, 2, 3, 3, 1, 1, 1, 1),    // many small images, ragged chunk
      conv_geometry(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0),     // the smallest there is
  };
  for (const auto& g : grouped_geometries()) v.push_back(g);
  return v;
}

}  // namespace

TEST_CASE("conv2d geometry finalize computes PyTorch's output size", "[kernels]") {
  k::Conv2dGeometry stem{64, 1, 64, 64, 64, 7, 7, 2, 2, 3, 3, 0, 0};
  REQUIRE(stem.finalize());
  CHECK(stem.oh == 32);
  CHECK(stem.ow == 32);
  k::Conv2dGeometry down{64, 64, 16, 15, 128, 1, 1, 2, 2, 0, 0, 0, 0};
  REQUIRE(down.finalize());
  CHECK(down.oh == 8);  // (16 - 1) / 2 + 1
  CHECK(down.ow == 8);  // (15 - 1) / 2 + 1
  k::Conv2dGeometry too_big{1, 1, 2, 2, 1, 5, 5, 1, 1, 1, 1, 0, 0};
  CHECK_FALSE(too_big.finalize());  // 2 + 2 - 5 < 0: no output, not (-1) / 1 + 1 = 1 by truncation
  k::Conv2dGeometry zero_stride{1, 1, 4, 4, 1, 3, 3, 0, 1, 0, 0, 0, 0};
  CHECK_FALSE(zero_stride.finalize());
  // Dilation: a 3x3 kernel with dilation 2 spans 5 inputs. (9 + 2*2 - 2*2 - 1) / 2 + 1 = 5 rows;
  // dilation 3 across: (8 + 2*1 - 3*2 - 1) / 1 + 1 = 4 columns.
  k::Conv2dGeometry dilated{1, 2, 9, 8, 2, 3, 3, 2, 1, 2, 1, 0, 0, 1, 2, 3};
  REQUIRE(dilated.finalize());
  CHECK(dilated.oh == 5);
  CHECK(dilated.ow == 4);
  k::Conv2dGeometry dilated_too_big{1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 2, 2};
  CHECK_FALSE(dilated_too_big.finalize());  // spans 5 > 4 (without dilation it would fit)
  // Groups must divide both channel counts; the weight then holds c / groups channels.
  k::Conv2dGeometry depthwise{1, 6, 4, 4, 12, 3, 3, 1, 1, 1, 1, 0, 0, 6};
  REQUIRE(depthwise.finalize());
  CHECK(depthwise.c_per_group() == 1);
  CHECK(depthwise.k_per_group() == 2);
  CHECK(depthwise.forward_flops() == 2.0 * 1 * 12 * 4 * 4 * 1 * 3 * 3);
  k::Conv2dGeometry groups_c{1, 6, 4, 4, 8, 3, 3, 1, 1, 1, 1, 0, 0, 4};  // 4 does not divide 6
  CHECK_FALSE(groups_c.finalize());
  k::Conv2dGeometry groups_k{1, 6, 4, 4, 4, 3, 3, 1, 1, 1, 1, 0, 0, 3};  // 3 does not divide 4
  CHECK_FALSE(groups_k.finalize());
  k::Conv2dGeometry zero_dilation{1, 1, 4, 4, 1, 3, 3, 1, 1, 1, 1, 0, 0, 1, 0, 1};
  CHECK_FALSE(zero_dilation.finalize());
}

TEST_CASE("pool geometry finalize: floor mode, padding at most half the kernel", "[kernels]") {
  k::Pool2dGeometry resnet{64, 64, 32, 32, 3, 3, 2, 2, 1, 1, 0, 0};
  REQUIRE(resnet.finalize());
  CHECK(resnet.oh == 16);  // (32 + 2 - 3) / 2 + 1 = 16 (floor of 16.5)
  CHECK(resnet.ow == 16);
  k::Pool2dGeometry too_much_padding{1, 1, 8, 8, 3, 3, 1, 1, 2, 2, 0, 0};
  CHECK_FALSE(too_much_padding.finalize());
}

TEST_CASE("conv2d reference on hand-computed cases", "[kernels]") {
  // 3x3 input 1..9, 2x2 kernel [[1, 0], [0, -1]]: each output is x[i][j] - x[i+1][j+1] = -4,
  // plus the bias 0.5.
  {
    const auto g = conv_geometry(1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0);
    const std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, w{1, 0, 0, -1}, b{0.5};
    std::vector<double> y(4, kInf);
    reference().forward(cpu_stream, g, x.data(), w.data(), b.data(), y.data());
    require_close(y, {-3.5, -3.5, -3.5, -3.5}, 0.0, "diagonal difference");
  }
  // 2x2 input [[1, 2], [3, 4]], 3x3 kernel of ones, pad 1: every 3x3 window around a cell of a
  // 2x2 image covers the whole image, so every output is 10. Backward with dy = 1: each input
  // cell lies in all 4 windows, dx = 4. dw[r][s] sums x over the cells that tap (r, s) reads:
  // rows {0} for r = 0, {0, 1} for r = 1, {1} for r = 2, and the same for columns.
  {
    const auto g = conv_geometry(1, 1, 2, 2, 1, 3, 3, 1, 1, 1, 1);
    const std::vector<double> x{1, 2, 3, 4}, w(9, 1.0), dy(4, 1.0);
    std::vector<double> y(4, kInf), dx(4, kInf), dw(9, kInf);
    reference().forward(cpu_stream, g, x.data(), w.data(), nullptr, y.data());
    reference().backward_data(cpu_stream, g, dy.data(), w.data(), dx.data(), false);
    reference().backward_filter(cpu_stream, g, x.data(), dy.data(), dw.data(), false);
    require_close(y, {10, 10, 10, 10}, 0.0, "forward");
    require_close(dx, {4, 4, 4, 4}, 0.0, "backward_input");
    require_close(dw, {1, 3, 2, 4, 10, 6, 3, 7, 4}, 0.0, "backward_weight");
    // The fast path agrees exactly on numbers this small.
    std::vector<double> y_fast(4, kInf), dw_fast(9, kInf);
    cpu::conv2d_forward<double>(cpu_stream, g, x.data(), w.data(), nullptr, y_fast.data());
    cpu::conv2d_backward_weight(cpu_stream, g, x.data(), dy.data(), dw_fast.data(), false);
    require_close(y_fast, y, 0.0, "fast forward");
    require_close(dw_fast, dw, 0.0, "fast backward_weight");
  }
  // Stride 2 skips inputs: a 1x1 stride-2 conv of a 3x3 image reads the four corners, and its
  // input gradient is zero on every cell it skipped.
  {
    const auto g = conv_geometry(1, 1, 3, 3, 1, 1, 1, 2, 2, 0, 0);
    const std::vector<double> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, w{2}, dy{1, 2, 3, 4};
    std::vector<double> y(4, kInf), dx(9, kInf), dx_fast(9, kInf);
    reference().forward(cpu_stream, g, x.data(), w.data(), nullptr, y.data());
    reference().backward_data(cpu_stream, g, dy.data(), w.data(), dx.data(), false);
    cpu::conv2d_backward_input(cpu_stream, g, dy.data(), w.data(), dx_fast.data(), false);
    require_close(y, {2, 6, 14, 18}, 0.0, "forward");
    require_close(dx, {2, 0, 4, 0, 0, 0, 6, 0, 8}, 0.0, "backward_input");
    require_close(dx_fast, dx, 0.0, "fast backward_input");
  }
  // Depthwise (groups = 2 = c = k) and dilation 2: a 2x2 kernel reads taps 2 apart, a 3x3 window
  // of a 5x5 image. Channel 0 holds 1..25 row by row and the kernel [[1, 0], [0, -1]]:
  // x[i][j] - x[i+2][j+2] = -12 everywhere. Channel 1 holds 100 and a kernel of ones: 400. (Without
  // dilation channel 0 would give -6; without groups each output would also see the other
  // channel.) Backward with dy = 1: channel 1's dx counts the windows a cell lies in, 1 or 2 per
  // axis (cells 0, 1, 3, 4: once; cell 2: twice); channel 0's is +1 on the cells the tap (0, 0)
  // reads (rows and columns 0..2) and -1 on those the tap (1, 1) reads (2..4).
  {
    const auto g = with_groups(conv_geometry(1, 2, 5, 5, 2, 2, 2, 1, 1, 0, 0), 2, 2, 2);
    REQUIRE(g.oh == 3);
    std::vector<double> x(50, 100.0), w{1, 0, 0, -1, 1, 1, 1, 1}, dy(18, 1.0);
    for (int i = 0; i < 25; ++i) x[i] = i + 1;
    std::vector<double> want_y(18, 400.0), want_dx(50);
    for (int i = 0; i < 9; ++i) want_y[i] = -12;
    const int count[5] = {1, 1, 2, 1, 1};
    for (int iy = 0; iy < 5; ++iy)
      for (int ix = 0; ix < 5; ++ix) {
        want_dx[iy * 5 + ix] = (iy <= 2 && ix <= 2) - (iy >= 2 && ix >= 2);
        want_dx[25 + iy * 5 + ix] = count[iy] * count[ix];
      }
    std::vector<double> y(18, kInf), dx(50, kInf), y_fast(18, kInf), dx_fast(50, kInf);
    reference().forward(cpu_stream, g, x.data(), w.data(), nullptr, y.data());
    reference().backward_data(cpu_stream, g, dy.data(), w.data(), dx.data(), false);
    require_close(y, want_y, 0.0, "depthwise dilated forward");
    require_close(dx, want_dx, 0.0, "depthwise dilated backward_input");
    cpu::conv2d_forward<double>(cpu_stream, g, x.data(), w.data(), nullptr, y_fast.data());
    cpu::conv2d_backward_input(cpu_stream, g, dy.data(), w.data(), dx_fast.data(), false);
    require_close(y_fast, want_y, 0.0, "depthwise dilated fast forward");
    require_close(dx_fast, want_dx, 0.0, "depthwise dilated fast backward_input");
  }
}

TEST_CASE("conv2d fast path matches the reference in float64", "[kernels]") {
  std::uint32_t seed = 100;
  for (const auto& g : conv_geometries()) check_conv_fast_against_ref<double>(g, seed++);
}

TEST_CASE("conv2d fast path matches the reference in float32", "[kernels]") {
  std::uint32_t seed = 200;
  for (const auto& g : conv_geometries()) check_conv_fast_against_ref<float>(g, seed++);
}

// Sets the CPU conv backend for a scope and puts back the setting that was there.
struct ConvBackendGuard {
  std::string saved = cpu::conv_backend();
  explicit ConvBackendGuard(const std::string& name) { cpu::set_conv_backend(name); }
  ~ConvBackendGuard() { cpu::set_conv_backend(saved); }
};

// Every float32 backend that can run here, by name, auto and benchmark.
std::vector<std::string> conv_settings() {
  std::vector<std::string> names{"auto", "benchmark"};
  for (const auto& b : cpu::conv_backends<float>())
    if (cpu::conv_backend_available(b.name)) names.push_back(b.name);
  return names;
}

TEST_CASE("conv2d float32: every CPU backend matches the reference", "[kernels]") {
  // The test geometries above, and the FER model's own convolutions at batch 2 (64 to 512
  // channels: the shapes for which oneDNN picks its channel-blocked kernels and reorders).
  std::vector<k::Conv2dGeometry> geoms = conv_geometries();
  for (const auto& g : std::vector<k::Conv2dGeometry>{
           conv_geometry(2, 1, 64, 64, 64, 7, 7, 2, 2, 3, 3),     // stem
           conv_geometry(2, 64, 16, 16, 64, 3, 3, 1, 1, 1, 1),    // layer1
           conv_geometry(2, 64, 16, 16, 128, 3, 3, 2, 2, 1, 1),   // layer2.0.conv1
           conv_geometry(2, 64, 16, 16, 128, 1, 1, 2, 2, 0, 0),   // layer2.0.downsample
           conv_geometry(2, 256, 4, 4, 512, 3, 3, 2, 2, 1, 1),    // layer4.0.conv1: 2x2 output
           conv_geometry(3, 512, 2, 2, 512, 3, 3, 1, 1, 1, 1)})   // layer4 3x3 on 2x2
    geoms.push_back(g);
  INFO("oneDNN available: " << cpu::conv_backend_available("onednn"));
  for (const std::string& name : conv_settings()) {
    INFO("backend " << name);
    ConvBackendGuard guard(name);
    std::uint32_t seed = 300;
    for (const auto& g : geoms) check_conv_fast_against_ref<float>(g, seed++);
  }
}

TEST_CASE("conv2d groups and dilation: which CPU backend runs them", "[kernels]") {
  // The per-backend test above compares whatever runs under each setting; this says what that
  // is for the grouped and dilated geometries: oneDNN runs them itself (where it loads), taps
  // declines them all (the fallback, im2col, runs), and the reference runs everything.
  for (const auto& g : grouped_geometries()) {
    INFO("groups " << g.groups << " dilation " << g.dilation_h << "x" << g.dilation_w << " c " << g.c << " k " << g.k);
    for (const auto d : {k::ConvDirection::Forward, k::ConvDirection::BackwardData, k::ConvDirection::BackwardFilter}) {
      {
        ConvBackendGuard guard("taps");
        CHECK(std::string(cpu::conv_backend_for<float>(d, g).name) == "im2col");
      }
      if (cpu::conv_backend_available("onednn")) {
        ConvBackendGuard guard("onednn");
        CHECK(std::string(cpu::conv_backend_for<float>(d, g).name) == "onednn");
      }
      ConvBackendGuard guard("reference");
      CHECK(std::string(cpu::conv_backend_for<float>(d, g).name) == "reference");
    }
  }
}

TEST_CASE("conv2d benchmark setting: each direction and geometry is timed once, on a backend that supports it",
          "[kernels]") {
  // The per-backend test above checks the benchmark setting's results against the reference
  // (overwriting and accumulating: the timed trials must not touch the caller's result); this
  // checks what it keeps. A geometry of its own (batch 5), so no other test has timed it.
  std::mt19937 gen(41);
  const auto g = conv_geometry(5, 16, 10, 10, 24, 3, 3, 1, 1, 1, 1);
  const auto x = random_vector<float>(g.n * g.c * g.h * g.w, gen);
  const auto w = random_vector<float>(g.k * g.c * 9, gen);
  const auto dy = random_vector<float>(g.n * g.k * g.oh * g.ow, gen);
  std::vector<float> y(dy.size()), dx(x.size()), dw(w.size());
  std::string by_rule;
  {
    ConvBackendGuard rule("auto");
    by_rule = cpu::conv_backend_for<float>(k::ConvDirection::Forward, g).name;
  }
  ConvBackendGuard guard("benchmark");
  CHECK(cpu::conv_backend() == "benchmark");
  const std::int64_t before = cpu::conv_benchmark_timed();
  // Before its first call a key runs what auto would.
  CHECK(std::string(cpu::conv_backend_for<float>(k::ConvDirection::Forward, g).name) == by_rule);
  cpu::conv2d_forward<float>(cpu_stream, g, x.data(), w.data(), nullptr, y.data());
  CHECK(cpu::conv_benchmark_timed() == before + 1);
  const std::string kept = cpu::conv_backend_for<float>(k::ConvDirection::Forward, g).name;
  CHECK(kept != "reference");
  CHECK(cpu::find_conv_backend<float>(kept).supports(k::ConvDirection::Forward, g));
  // Again: nothing is timed, the same backend runs, the same bits come out.
  std::vector<float> again(y.size());
  cpu::conv2d_forward<float>(cpu_stream, g, x.data(), w.data(), nullptr, again.data());
  CHECK(cpu::conv_benchmark_timed() == before + 1);
  CHECK(std::string(cpu::conv_backend_for<float>(k::ConvDirection::Forward, g).name) == kept);
  CHECK(again == y);
  // Each direction is a key of its own.
  cpu::conv2d_backward_input<float>(cpu_stream, g, dy.data(), w.data(), dx.data(), false);
  cpu::conv2d_backward_weight<float>(cpu_stream, g, x.data(), dy.data(), dw.data(), false);
  CHECK(cpu::conv_benchmark_timed() == before + 3);
  // A key whose first call accumulates: the timed trials write into results of their own, so
  // the caller's is added to once. (The same key's overwriting call runs the same backend.)
  const auto h = conv_geometry(3, 16, 10, 10, 24, 3, 3, 1, 1, 1, 1);
  const auto dyh = random_vector<float>(h.n * h.k * h.oh * h.ow, gen);
  std::vector<float> acc(h.n * h.c * h.h * h.w, 0.5f), over(acc.size());
  cpu::conv2d_backward_input<float>(cpu_stream, h, dyh.data(), w.data(), acc.data(), true);
  CHECK(cpu::conv_benchmark_timed() == before + 4);
  cpu::conv2d_backward_input<float>(cpu_stream, h, dyh.data(), w.data(), over.data(), false);
  float worst = 0, largest = 0;
  for (std::size_t i = 0; i < acc.size(); ++i) {
    worst = std::max(worst, std::fabs(acc[i] - (over[i] + 0.5f)));
    largest = std::max(largest, std::fabs(over[i]));
  }
  INFO("accumulated once: worst |acc - (overwrite + 0.5)| " << worst << ", largest |overwrite| " << largest);
  CHECK(largest > 1.0f);
  CHECK(worst <= 1e-5f * (largest + 0.5f));
  // A grouped geometry, which taps declines: the choice is among the backends that run it.
  const auto grouped = with_groups(conv_geometry(4, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1), 4);
  const auto xg = random_vector<float>(grouped.n * grouped.c * grouped.h * grouped.w, gen);
  const auto wg = random_vector<float>(grouped.k * grouped.c_per_group() * 9, gen);
  std::vector<float> yg(grouped.n * grouped.k * grouped.oh * grouped.ow);
  cpu::conv2d_forward<float>(cpu_stream, grouped, xg.data(), wg.data(), nullptr, yg.data());
  const std::string grouped_kept = cpu::conv_backend_for<float>(k::ConvDirection::Forward, grouped).name;
  CHECK(grouped_kept != "taps");
  CHECK(grouped_kept != "reference");
  // The name is one a user can set, and the error for a wrong one lists it.
  REQUIRE_THROWS_WITH(cpu::set_conv_backend("fastest"), Contains("benchmark"));
}

TEST_CASE("conv2d: float64 always runs im2col, whatever the float32 setting", "[kernels]") {
  // The gradient checks rely on float64 convolutions being exact to ~1e-12: a float32 library
  // must never be routed float64 data. With the switch on another backend, float64 still runs
  // im2col and matches the reference to float64 precision.
  const auto g = conv_geometry(2, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1);
  for (const std::string& name : conv_settings()) {
    ConvBackendGuard guard(name);
    CHECK(std::string(cpu::conv_backend_for<double>(k::ConvDirection::Forward, g).name) == "im2col");
  }
  ConvBackendGuard guard(cpu::conv_backend_available("onednn") ? "onednn" : "taps");
  check_conv_fast_against_ref<double>(g, 17);
}

TEST_CASE("conv2d: one switch, one fallback: a backend that cannot run a call falls back to im2col", "[kernels]") {
  const auto g = conv_geometry(2, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1);
  {
    ConvBackendGuard guard("taps");
    CHECK(cpu::conv_backend() == "taps");
    CHECK(std::string(cpu::conv_backend_for<float>(k::ConvDirection::BackwardFilter, g).name) == "taps");
  }
  // The auto rule's choice for a weight used fewer than 64 times is im2col (kernels/cpu/conv2d.cpp).
  const auto tiny = conv_geometry(1, 8, 4, 4, 8, 3, 3, 2, 2, 1, 1);  // 2x2 output, batch 1
  ConvBackendGuard guard("auto");
  CHECK(std::string(cpu::conv_backend_for<float>(k::ConvDirection::Forward, tiny).name) == "im2col");
  // And the backward of the 1-channel stem at batch 64: backward-data is im2col everywhere;
  // backward-filter is im2col on AVX2 CPUs, whose oneDNN kernel pads the channel to 8 (4.4x
  // slower there), and oneDNN on AVX-512 ones (measured faster there).
  const auto stem = conv_geometry(64, 1, 64, 64, 64, 7, 7, 2, 2, 3, 3);
  CHECK(std::string(cpu::conv_backend_for<float>(k::ConvDirection::BackwardData, stem).name) == "im2col");
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool onednn = cpu::conv_backend_available("onednn");
  CHECK(std::string(cpu::conv_backend_for<float>(k::ConvDirection::BackwardFilter, stem).name) ==
        (avx512 && onednn ? "onednn" : "im2col"));
  // Unknown names, and the names this switch had before, are errors that say what to write.
  REQUIRE_THROWS_WITH(cpu::set_conv_backend("fastest"), Contains("expected one of auto, im2col"));
  REQUIRE_THROWS_WITH(cpu::set_conv_backend("gemm"), Contains("renamed") && Contains("im2col"));
  REQUIRE_THROWS_WITH(cpu::set_conv_backend("dnnl"), Contains("renamed") && Contains("onednn"));
  CHECK(cpu::conv_backend() == "auto");
}

TEST_CASE("conv2d: oneDNN, when built in, loads (a fallback to im2col is never silent)", "[kernels]") {
  // Built with libdnnl-dev's headers but running where libdnnl.so.2 does not load, every float32
  // convolution would quietly take the slower path and the oneDNN tests above would test nothing.
  const std::string why = cpu::onednn::unavailable_reason();
  INFO("oneDNN built in: " << MINIDL_WITH_ONEDNN << ", reason: " << why);
  if (MINIDL_WITH_ONEDNN) {
    CHECK(cpu::conv_backend_available("onednn"));
    CHECK(why.empty());
  } else {
    CHECK_FALSE(cpu::conv_backend_available("onednn"));
    CHECK_THAT(why, Contains("built without"));
  }
}

TEST_CASE("conv2d: set_conv_backend(onednn) without oneDNN is an error that says so", "[kernels]") {
  if (cpu::conv_backend_available("onednn")) {
    ConvBackendGuard guard("onednn");
    CHECK(cpu::conv_backend() == "onednn");
  } else {
    REQUIRE_THROWS_WITH(cpu::set_conv_backend("onednn"), Contains("oneDNN"));
  }
}

TEST_CASE("conv2d fast path gives the same answer after its scratch was used by other shapes", "[kernels]") {
  std::mt19937 gen(7);
  const auto small = conv_geometry(5, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1);
  const auto large = conv_geometry(4, 8, 20, 20, 8, 3, 3, 1, 1, 1, 1);
  const auto x = random_vector<float>(small.n * small.c * small.h * small.w, gen);
  const auto w = random_vector<float>(small.k * small.c * 9, gen);
  const auto xl = random_vector<float>(large.n * large.c * large.h * large.w, gen);
  const auto wl = random_vector<float>(large.k * large.c * 9, gen);
  std::vector<float> first(small.n * small.k * small.oh * small.ow), again(first.size());
  std::vector<float> yl(large.n * large.k * large.oh * large.ow);
  cpu::conv2d_forward<float>(cpu_stream, small, x.data(), w.data(), nullptr, first.data());
  cpu::conv2d_forward<float>(cpu_stream, large, xl.data(), wl.data(), nullptr, yl.data());
  cpu::conv2d_forward<float>(cpu_stream, small, x.data(), w.data(), nullptr, again.data());
  CHECK(first == again);
}

TEST_CASE("conv2d weight gradient is bit-identical from run to run", "[kernels]") {
  // Chunks go to whichever thread is free, so the order of the partial sums must not follow the
  // schedule: the same inputs give the same bits every time. oneDNN reduces over the batch in
  // per-thread buffers; it must be as repeatable (bit-identical training runs depend on it).
  std::mt19937 gen(9);
  for (const std::string& name : conv_settings()) {
    INFO("backend " << name);
    ConvBackendGuard guard(name);
    for (const auto& g : {conv_geometry(32, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1), conv_geometry(16, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1)}) {
      const auto x = random_vector<float>(g.n * g.c * g.h * g.w, gen);
      const auto dy = random_vector<float>(g.n * g.k * g.oh * g.ow, gen);
      std::vector<float> first(g.k * g.c * 9), again(first.size());
      cpu::conv2d_backward_weight(cpu_stream, g, x.data(), dy.data(), first.data(), false);
      for (int run = 0; run < 5; ++run) {
        cpu::conv2d_backward_weight(cpu_stream, g, x.data(), dy.data(), again.data(), false);
        REQUIRE(first == again);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation
// ---------------------------------------------------------------------------------------------

// x[n=2][c=2][hw=2]: channel 0 holds {1, 2, 3, 4} (mean 2.5, biased variance 1.25, unbiased
// 5/3), channel 1 holds {2, 2, 2, 6} (mean 3, biased variance 3, unbiased 4).
const std::vector<double> kBnX{1, 2, 2, 2, 3, 4, 2, 6};
const double kBnMean[2] = {2.5, 3.0}, kBnVar[2] = {1.25, 3.0};

TEST_CASE("batch_norm training forward: batch statistics and running-stat update", "[kernels]") {
  const k::BatchNormGeometry g{2, 2, 2};
  const std::vector<double> gamma{2.0, 0.5}, beta{0.0, 1.0};
  const double eps = 0.01, momentum = 0.1;
  std::vector<double> rm{0.0, 1.0}, rv{1.0, 2.0}, y(8, kInf), mean(2, kInf), invstd(2, kInf);
  cpu::batch_norm_forward_train(cpu_stream, g, kBnX.data(), gamma.data(), beta.data(), eps, momentum, rm.data(),
                                rv.data(),
                                y.data(), mean.data(), invstd.data());
  const double is0 = 1.0 / std::sqrt(1.25 + eps), is1 = 1.0 / std::sqrt(3.0 + eps);
  require_close(mean, {2.5, 3.0}, 1e-15, "saved mean");
  require_close(invstd, {is0, is1}, 1e-15, "saved invstd (biased variance)");
  // running = 0.9 running + 0.1 batch, with the unbiased variance: 0.9 + 0.1 * 5/3 and 1.8 + 0.4.
  require_close(rm, {0.25, 1.2}, 1e-15, "running_mean");
  require_close(rv, {0.9 + 0.5 / 3.0, 2.2}, 1e-15, "running_var");
  require_close(y,
                {2 * -1.5 * is0, 2 * -0.5 * is0, 0.5 * -1 * is1 + 1, 0.5 * -1 * is1 + 1,  // image 0
                 2 * 0.5 * is0, 2 * 1.5 * is0, 0.5 * -1 * is1 + 1, 0.5 * 3 * is1 + 1},    // image 1
                1e-14, "y");

  // Without gamma/beta (affine=False) and without running stats (track_running_stats=False).
  std::vector<float> xf(kBnX.begin(), kBnX.end()), yf(8, static_cast<float>(kInf)), mf(2), sf(2);
  cpu::batch_norm_forward_train<float>(cpu_stream, g, xf.data(), nullptr, nullptr, eps, momentum, nullptr, nullptr,
                                       yf.data(),
                                       mf.data(), sf.data());
  require_close(yf, {-1.5 * is0, -0.5 * is0, -1 * is1, -1 * is1, 0.5 * is0, 1.5 * is0, -1 * is1, 3 * is1}, 1e-6,
                "y, float32, no affine");
}

TEST_CASE("batch_norm statistics stay exact for a channel far from zero", "[kernels]") {
  // 1e8 + {1, 2, 3, 4}: E[x^2] - E[x]^2 would lose the variance 1.25 to cancellation (x^2 is
  // about 1e16, where a double's spacing is 2); the kernel's shifted sums keep it exact.
  const k::BatchNormGeometry g{1, 1, 4};
  const std::vector<double> x{1e8 + 1, 1e8 + 2, 1e8 + 3, 1e8 + 4};
  std::vector<double> y(4), mean(1), invstd(1);
  cpu::batch_norm_forward_train<double>(cpu_stream, g, x.data(), nullptr, nullptr, 0.0, 0.1, nullptr, nullptr, y.data(),
                                        mean.data(), invstd.data());
  require_close(mean, {1e8 + 2.5}, 1e-15, "mean");
  require_close(invstd, {1.0 / std::sqrt(1.25)}, 1e-12, "invstd");
  const double is = 1.0 / std::sqrt(1.25);
  require_close(y, {-1.5 * is, -0.5 * is, 0.5 * is, 1.5 * is}, 1e-8, "y");
}

TEST_CASE("batch_norm training needs more than one value per channel", "[kernels]") {
  const k::BatchNormGeometry g{1, 3, 1};
  std::vector<double> x{1, 2, 3}, y(3), m(3), s(3);
  REQUIRE_THROWS_WITH(cpu::batch_norm_forward_train<double>(cpu_stream, g, x.data(), nullptr, nullptr, 1e-5, 0.1,
                      nullptr,
                                                            nullptr, y.data(), m.data(), s.data()),
                      Contains("more than one value per channel"));
}

TEST_CASE("batch_norm evaluation uses the running statistics and ignores the batch", "[kernels]") {
  const k::BatchNormGeometry g{2, 2, 2};
  const std::vector<double> gamma{2.0, 0.5}, beta{0.0, 1.0}, rm{1.0, -1.0}, rv{3.0, 0.25};
  const double eps = 1e-5;
  std::vector<double> y(8, kInf);
  cpu::batch_norm_forward_eval(cpu_stream, g, kBnX.data(), gamma.data(), beta.data(), rm.data(), rv.data(), eps,
                               y.data());
  std::vector<double> want(8);
  for (int b = 0; b < 2; ++b)
    for (int c = 0; c < 2; ++c)
      for (int j = 0; j < 2; ++j) {
        const int i = (b * 2 + c) * 2 + j;
        want[i] = (kBnX[i] - rm[c]) / std::sqrt(rv[c] + eps) * gamma[c] + beta[c];
      }
  require_close(y, want, 1e-15, "y");
  // The second image alone gives the second half of the batch's output.
  const k::BatchNormGeometry one{1, 2, 2};
  std::vector<double> y1(4, kInf);
  cpu::batch_norm_forward_eval(cpu_stream, one, kBnX.data() + 4, gamma.data(), beta.data(), rm.data(), rv.data(), eps,
                               y1.data());
  CHECK(y1 == std::vector<double>(y.begin() + 4, y.end()));
}

TEST_CASE("batch_norm backward in training and evaluation", "[kernels]") {
  const k::BatchNormGeometry g{2, 2, 2};
  const std::vector<double> gamma{2.0, 0.5}, dy{1, -2, 0.5, 3, 2, 1, -1, 0.25};
  const double eps = 0.01;
  const double invstd[2] = {1.0 / std::sqrt(kBnVar[0] + eps), 1.0 / std::sqrt(kBnVar[1] + eps)};
  const std::vector<double> mean{kBnMean[0], kBnMean[1]}, is{invstd[0], invstd[1]};

  // Textbook form, per channel over its m = 4 values, xhat = (x - mean) invstd:
  //   dbeta = sum dy, dgamma = sum dy xhat, dx = gamma invstd / m (m dy - sum dy - xhat sum dy xhat)
  std::vector<double> dx_want(8), dgamma_want(2, 0.0), dbeta_want(2, 0.0);
  auto at = [](int b, int c, int j) { return (b * 2 + c) * 2 + j; };
  for (int c = 0; c < 2; ++c) {
    for (int b = 0; b < 2; ++b)
      for (int j = 0; j < 2; ++j) {
        const double xhat = (kBnX[at(b, c, j)] - mean[c]) * invstd[c];
        dbeta_want[c] += dy[at(b, c, j)];
        dgamma_want[c] += dy[at(b, c, j)] * xhat;
      }
    for (int b = 0; b < 2; ++b)
      for (int j = 0; j < 2; ++j) {
        const double xhat = (kBnX[at(b, c, j)] - mean[c]) * invstd[c];
        dx_want[at(b, c, j)] =
            gamma[c] * invstd[c] / 4.0 * (4.0 * dy[at(b, c, j)] - dbeta_want[c] - xhat * dgamma_want[c]);
      }
  }
  // Channel 0 by hand as a spot check: dy = {1, -2, 2, 1}, x - mean = {-1.5, -0.5, 0.5, 1.5}:
  // sum dy = 2, sum dy (x - mean) = -1.5 + 1 + 1 + 1.5 = 2.
  CHECK(dbeta_want[0] == Approx(2.0));
  CHECK(dgamma_want[0] == Approx(2.0 * invstd[0]));

  std::vector<double> dx(8, kInf), dgamma(2, kInf), dbeta(2, kInf);
  cpu::batch_norm_backward<double>(cpu_stream, g, true, dy.data(), kBnX.data(), nullptr, gamma.data(), mean.data(), is.data(), 1e-5, dx.data(), false,
                           dgamma.data(), dbeta.data(), false);
  require_close(dx, dx_want, 1e-14, "training dx");
  require_close(dgamma, dgamma_want, 1e-14, "dgamma");
  require_close(dbeta, dbeta_want, 1e-14, "dbeta");

  // Accumulating adds onto 0.5, with separate flags for dx and the parameters.
  std::vector<double> dx_acc(8, 0.5), dgamma_acc(2, 0.5), dbeta_acc(2, kInf);
  cpu::batch_norm_backward<double>(cpu_stream, g, true, dy.data(), kBnX.data(), nullptr, gamma.data(), mean.data(), is.data(), 1e-5,
                                   dx_acc.data(), true, dgamma_acc.data(), nullptr, true);
  for (auto& v : dx_want) v += 0.5;
  for (auto& v : dgamma_want) v += 0.5;
  require_close(dx_acc, dx_want, 1e-14, "training dx accumulate");
  require_close(dgamma_acc, dgamma_want, 1e-14, "dgamma accumulate");
  CHECK(std::isinf(dbeta_acc[0]));  // null dbeta: not computed, untouched

  // A gradient that is constant per channel moves only the mean, which normalisation removes.
  const std::vector<double> flat{3, 3, -1, -1, 3, 3, -1, -1};
  std::vector<double> dx_flat(8, kInf);
  cpu::batch_norm_backward<double>(cpu_stream, g, true, flat.data(), kBnX.data(), nullptr, gamma.data(), mean.data(), is.data(), 1e-5,
                                   dx_flat.data(), false, nullptr, nullptr, false);
  require_close(dx_flat, std::vector<double>(8, 0.0), 1e-14, "constant dy gives dx = 0");

  // Evaluation: mean and invstd are constants, dx = dy gamma invstd.
  std::vector<double> dx_eval(8, kInf);
  cpu::batch_norm_backward<double>(cpu_stream, g, false, dy.data(), kBnX.data(), nullptr, gamma.data(), mean.data(), is.data(), 1e-5,
                                   dx_eval.data(), false, nullptr, nullptr, false);
  std::vector<double> want_eval(8);
  for (int b = 0; b < 2; ++b)
    for (int c = 0; c < 2; ++c)
      for (int j = 0; j < 2; ++j) want_eval[at(b, c, j)] = dy[at(b, c, j)] * gamma[c] * invstd[c];
  require_close(dx_eval, want_eval, 1e-15, "evaluation dx");
}

// ---------------------------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------------------------

TEST_CASE("max_pool2d 2x2 stride 2 on a 4x4 plane, ties to the first", "[kernels]") {
  k::Pool2dGeometry g{1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0};
  REQUIRE(g.finalize());
  const std::vector<double> x{1, 2, 5, 3,   //
                              4, 0, 1, 6,   //
                              7, 7, 2, 2,   //
                              7, 8, 2, 2};
  std::vector<double> y(4, kInf);
  std::vector<std::int64_t> arg(4, -1);
  cpu::max_pool2d_forward(cpu_stream, g, x.data(), y.data(), arg.data());
  require_close(y, {4, 6, 8, 2}, 0.0, "y");
  CHECK(arg == std::vector<std::int64_t>{4, 7, 13, 10});  // the last window is all 2s: the first wins

  const std::vector<double> dy{1, 2, 3, 4};
  std::vector<double> dx(16, kInf);
  cpu::max_pool2d_backward(cpu_stream, g, dy.data(), arg.data(), dx.data(), false);
  require_close(dx, {0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 4, 0, 0, 3, 0, 0}, 0.0, "dx");
}

TEST_CASE("max_pool2d 3x3 stride 2 pad 1: padding never wins, overlapping windows add", "[kernels]") {
  k::Pool2dGeometry g{1, 1, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0};
  REQUIRE(g.finalize());
  REQUIRE(g.oh == 2);
  // All negative: a padding cell treated as 0 would win every window. Windows cover rows (and
  // columns) {0, 1} and {1, 2, 3}.
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = -static_cast<float>(i + 1);
  std::vector<float> y(4);
  std::vector<std::int64_t> arg(4);
  cpu::max_pool2d_forward(cpu_stream, g, x.data(), y.data(), arg.data());
  require_close(y, {-1, -2, -5, -6}, 0.0, "y");
  CHECK(arg == std::vector<std::int64_t>{0, 1, 4, 5});

  // Cell (1, 1) is in all four windows: when it holds the maximum it collects every gradient.
  std::vector<float> peak(16, 0.0f);
  peak[5] = 10.0f;
  cpu::max_pool2d_forward(cpu_stream, g, peak.data(), y.data(), arg.data());
  CHECK(arg == std::vector<std::int64_t>{5, 5, 5, 5});
  const std::vector<float> dy{1, 2, 3, 4};
  std::vector<float> dx(16, 0.5f);
  cpu::max_pool2d_backward(cpu_stream, g, dy.data(), arg.data(), dx.data(), true);
  std::vector<double> want(16, 0.5);
  want[5] = 10.5;
  require_close(dx, want, 0.0, "dx accumulate");
}

TEST_CASE("max_pool2d matches a direct scan over many geometries, ties included", "[kernels]") {
  // Values drawn from {0, 1, 2, 3}, so most windows hold ties; the direct scan below is the
  // definition: every real cell of the window in row-major order, the first maximum wins.
  struct Case {
    std::int64_t h, w, kh, kw, sh, sw, ph, pw;
  };
  const Case cases[] = {{7, 9, 3, 3, 2, 2, 1, 1}, {8, 8, 2, 2, 2, 2, 0, 0}, {5, 6, 3, 2, 1, 1, 1, 1},
                        {9, 7, 5, 5, 3, 2, 2, 2}, {4, 4, 1, 1, 1, 1, 0, 0}, {6, 11, 4, 3, 2, 3, 2, 1},
                        {3, 40, 3, 3, 1, 1, 1, 1},
                        // 3x3 stride 2 pad 1 (ResNet's stem pool, which has a path of its own):
                        // even and odd sizes, the model's 32x32, and the smallest planes.
                        {8, 8, 3, 3, 2, 2, 1, 1},   {32, 32, 3, 3, 2, 2, 1, 1}, {2, 2, 3, 3, 2, 2, 1, 1},
                        {2, 5, 3, 3, 2, 2, 1, 1},   {5, 2, 3, 3, 2, 2, 1, 1},   {6, 7, 3, 3, 2, 2, 1, 1}};
  std::mt19937 gen(5);
  std::uniform_int_distribution<int> level(0, 3);
  for (const Case& c : cases) {
    k::Pool2dGeometry g{2, 3, c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, 0, 0};
    REQUIRE(g.finalize());
    INFO(c.h << "x" << c.w << " kernel " << c.kh << "x" << c.kw << " stride " << c.sh << "," << c.sw << " pad "
              << c.ph << "," << c.pw);
    std::vector<float> x(g.n * g.c * g.h * g.w), y(g.n * g.c * g.oh * g.ow);
    for (auto& v : x) v = static_cast<float>(level(gen));
    std::vector<std::int64_t> arg(y.size(), -1), want_arg(y.size());
    std::vector<double> want(y.size());
    for (std::int64_t p = 0; p < g.n * g.c; ++p)
      for (std::int64_t oy = 0; oy < g.oh; ++oy)
        for (std::int64_t ox = 0; ox < g.ow; ++ox) {
          std::int64_t at = -1;
          for (std::int64_t iy = oy * g.stride_h - g.pad_h; iy < oy * g.stride_h - g.pad_h + g.kh; ++iy)
            for (std::int64_t ix = ox * g.stride_w - g.pad_w; ix < ox * g.stride_w - g.pad_w + g.kw; ++ix) {
              if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
              if (at < 0 || x[p * g.h * g.w + iy * g.w + ix] > x[p * g.h * g.w + at]) at = iy * g.w + ix;
            }
          const std::int64_t o = (p * g.oh + oy) * g.ow + ox;
          want_arg[o] = at;
          want[o] = x[p * g.h * g.w + at];
        }
    cpu::max_pool2d_forward(cpu_stream, g, x.data(), y.data(), arg.data());
    require_close(y, want, 0.0, "y");
    CHECK(arg == want_arg);
  }
}

TEST_CASE("max_pool2d 3x3 stride 2 pad 1: NaN and -inf follow the scan's rule", "[kernels]") {
  // The rule of the sequential scan: a NaN takes over from anything (so the last NaN of a window,
  // in row-major order, is reported), nothing takes over from a NaN, and a window of -inf reports
  // its first real cell. Checked against that scan on a plane with NaNs and -infs placed so that
  // windows hold none, one and two of them.
  const float nan = std::numeric_limits<float>::quiet_NaN(), ninf = -std::numeric_limits<float>::infinity();
  k::Pool2dGeometry g{1, 2, 6, 6, 3, 3, 2, 2, 1, 1, 0, 0};
  REQUIRE(g.finalize());
  std::vector<float> x(2 * 36, ninf);
  std::mt19937 gen(3);
  for (std::int64_t i = 36; i < 72; ++i) x[i] = static_cast<float>(gen() % 4);  // plane 1: ties
  x[36 + 7] = nan, x[36 + 8] = nan, x[36 + 21] = nan, x[36 + 35] = nan;
  x[14] = 2.f;  // plane 0: -inf everywhere but one cell
  std::vector<float> y(2 * 9);
  std::vector<std::int64_t> arg(y.size(), -1);
  cpu::max_pool2d_forward(cpu_stream, g, x.data(), y.data(), arg.data());
  for (std::int64_t p = 0; p < 2; ++p)
    for (std::int64_t oy = 0; oy < 3; ++oy)
      for (std::int64_t ox = 0; ox < 3; ++ox) {
        float best = ninf;
        std::int64_t at = -1;
        for (std::int64_t iy = 2 * oy - 1; iy <= 2 * oy + 1; ++iy)
          for (std::int64_t ix = 2 * ox - 1; ix <= 2 * ox + 1; ++ix) {
            if (iy < 0 || iy >= 6 || ix < 0 || ix >= 6) continue;
            const float v = x[p * 36 + iy * 6 + ix];
            if (at < 0) at = iy * 6 + ix;
            if (v > best || v != v) best = v, at = iy * 6 + ix;
          }
        const std::int64_t o = p * 9 + oy * 3 + ox;
        INFO("plane " << p << " output " << oy << "," << ox);
        CHECK(arg[o] == at);
        if (std::isnan(best)) CHECK(std::isnan(y[o]));
        else CHECK(y[o] == best);
      }
}

TEST_CASE("max_pool2d propagates NaN", "[kernels]") {
  k::Pool2dGeometry g{1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0};
  REQUIRE(g.finalize());
  const std::vector<double> x{1, std::nan(""), 3, 2};
  std::vector<double> y(1);
  std::vector<std::int64_t> arg(1);
  cpu::max_pool2d_forward(cpu_stream, g, x.data(), y.data(), arg.data());
  CHECK(std::isnan(y[0]));
  CHECK(arg[0] == 1);
}

TEST_CASE("adaptive_avg_pool2d with uneven, overlapping windows", "[kernels]") {
  // 5 -> 3: windows [floor(5i/3), ceil(5(i+1)/3)) = [0, 2), [1, 4), [3, 5). With x[i][j] = 5i + j
  // a window's mean is 5 * (mean row) + (mean column), the means being 0.5, 2 and 3.5.
  std::vector<double> x(25);
  for (int i = 0; i < 25; ++i) x[i] = i;
  std::vector<double> y(9, kInf);
  cpu::adaptive_avg_pool2d_forward<double>(cpu_stream, 1, 1, 5, 5, 3, 3, x.data(), y.data());
  const double m[3] = {0.5, 2.0, 3.5};
  std::vector<double> want(9);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) want[i * 3 + j] = 5 * m[i] + m[j];
  require_close(y, want, 1e-15, "y");

  // dy = 1: a cell gets 1/|window| from each window that holds it, separately per axis:
  // f = {1/2, 1/2 + 1/3, 1/3, 1/3 + 1/2, 1/2}, dx[i][j] = f[i] f[j].
  const double f[5] = {0.5, 0.5 + 1.0 / 3, 1.0 / 3, 1.0 / 3 + 0.5, 0.5};
  const std::vector<double> dy(9, 1.0);
  std::vector<double> dx(25, kInf), dx_acc(25, 0.5), want_dx(25), want_acc(25);
  cpu::adaptive_avg_pool2d_backward<double>(cpu_stream, 1, 1, 5, 5, 3, 3, dy.data(), dx.data(), false);
  cpu::adaptive_avg_pool2d_backward<double>(cpu_stream, 1, 1, 5, 5, 3, 3, dy.data(), dx_acc.data(), true);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      want_dx[i * 5 + j] = f[i] * f[j];
      want_acc[i * 5 + j] = f[i] * f[j] + 0.5;
    }
  require_close(dx, want_dx, 1e-15, "dx");
  require_close(dx_acc, want_acc, 1e-15, "dx accumulate");
}

TEST_CASE("adaptive_avg_pool2d to 1x1 is the global average (ResNet's head)", "[kernels]") {
  // n = 2, c = 2, 2x2 planes.
  const std::vector<float> x{1, 2, 3, 4, -1, -1, -1, 3, 0, 0, 0, 8, 10, 20, 30, 40};
  std::vector<float> y(4, static_cast<float>(kInf)), dx(16, static_cast<float>(kInf));
  cpu::adaptive_avg_pool2d_forward<float>(cpu_stream, 2, 2, 2, 2, 1, 1, x.data(), y.data());
  require_close(y, {2.5, 0, 2, 25}, 0.0, "y");
  const std::vector<float> dy{4, 8, -4, 2};
  cpu::adaptive_avg_pool2d_backward<float>(cpu_stream, 2, 2, 2, 2, 1, 1, dy.data(), dx.data(), false);
  require_close(dx, {1, 1, 1, 1, 2, 2, 2, 2, -1, -1, -1, -1, 0.5, 0.5, 0.5, 0.5}, 0.0, "dx");
}

// ---------------------------------------------------------------------------------------------
// Elementwise
// ---------------------------------------------------------------------------------------------

TEST_CASE("elementwise: fill, scale, add, relu, add_relu", "[kernels]") {
  const double nan = std::nan("");
  std::vector<double> y(4, kInf);
  cpu::fill<double>(cpu_stream, 4, 1.5, y.data());
  require_close(y, {1.5, 1.5, 1.5, 1.5}, 0.0, "fill");

  const std::vector<double> a{1, -2, 3, -4}, b{-2, 1, 0.5, 5};
  cpu::scale<double>(cpu_stream, 4, 2.0, a.data(), y.data(), false);
  require_close(y, {2, -4, 6, -8}, 0.0, "scale");
  cpu::scale<double>(cpu_stream, 4, -1.0, b.data(), y.data(), true);
  require_close(y, {4, -5, 5.5, -13}, 0.0, "scale accumulate");
  cpu::add<double>(cpu_stream, 4, a.data(), b.data(), y.data());
  require_close(y, {-1, -1, 3.5, 1}, 0.0, "add");
  cpu::add_relu<double>(cpu_stream, 4, a.data(), b.data(), y.data());
  require_close(y, {0, 0, 3.5, 1}, 0.0, "add_relu");

  const std::vector<double> x{-1, 0, 2, nan};
  std::vector<double> r(4, kInf);
  cpu::relu_forward<double>(cpu_stream, 4, x.data(), r.data());
  CHECK(r[0] == 0.0);
  CHECK(r[1] == 0.0);
  CHECK(r[2] == 2.0);
  CHECK(std::isnan(r[3]));  // NaN passes through, as in PyTorch

  // The mask comes from the output: y == 0 blocks dy, y > 0 passes it, and so does a NaN y
  // (PyTorch's threshold_backward blocks only where y <= 0).
  const std::vector<double> ry{0, 0, 2, 0.5, nan}, dy{1, 2, 3, 4, 5};
  std::vector<double> dx(5, kInf), dx_acc(5, 0.5);
  cpu::relu_backward<double>(cpu_stream, 5, dy.data(), ry.data(), dx.data(), false);
  cpu::relu_backward<double>(cpu_stream, 5, dy.data(), ry.data(), dx_acc.data(), true);
  require_close(dx, {0, 0, 3, 4, 5}, 0.0, "relu_backward");
  require_close(dx_acc, {0.5, 0.5, 3.5, 4.5, 5.5}, 0.0, "relu_backward accumulate");
}

TEST_CASE("elementwise on buffers large enough to go parallel", "[kernels]") {
  const std::int64_t n = 1000003;  // odd, so no thread gets an even share
  std::vector<float> a(n), b(n), y(n, static_cast<float>(kInf));
  for (std::int64_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i % 7) - 3.0f;
    b[i] = 1.0f;
  }
  cpu::add_relu<float>(cpu_stream, n, a.data(), b.data(), y.data());
  bool ok = true;
  for (std::int64_t i = 0; i < n; ++i) ok = ok && y[i] == std::max(a[i] + 1.0f, 0.0f);
  CHECK(ok);
}

TEST_CASE("sum and total_norm are exact on exact data and do not depend on the thread count", "[kernels]") {
  // x[i] = (i mod 1000) / 2: every value and every partial sum is exact in double, so the sum
  // is known: n = 1000 q + 3 gives q * (0 + ... + 999) / 2 + (0 + 0.5 + 1).
  const std::int64_t q = 2001, n = 1000 * q + 3;
  std::vector<double> x(n);
  for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<double>(i % 1000) * 0.5;
  const double want = q * (999.0 * 1000.0 / 2.0) / 2.0 + 1.5;
  double got = kInf;
  cpu::sum<double>(cpu_stream, n, x.data(), 1.0, &got);
  CHECK(got == want);
  cpu::sum<double>(cpu_stream, n, x.data(), 0.5, &got);  // mean-style scaling, exact here too
  CHECK(got == want / 2);
  // Squares (i mod 1000)^2 / 4, also exact: q * (0^2 + ... + 999^2) / 4 + (0 + 0.25 + 1); the
  // norm is its square root, correctly rounded from the same double. Split over two spans.
  const double want_sq = q * (999.0 * 1000.0 * 1999.0 / 6.0) / 4.0 + 1.25;
  const k::Span<const double> halves[2] = {{x.data(), n / 2}, {x.data() + n / 2, n - n / 2}};
  double norm = kInf;
  cpu::total_norm<double>(cpu_stream, halves, 2, &norm);
  CHECK(norm == Approx(std::sqrt(want_sq)).epsilon(1e-15));

  // Inexact data: the same bits with one thread and with all of them.
  std::mt19937 gen(3);
  const auto r = random_vector<double>(n, gen);
  double all_threads = 0, one_thread = 0;
  cpu::sum<double>(cpu_stream, n, r.data(), 1.0, &all_threads);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  cpu::sum<double>(cpu_stream, n, r.data(), 1.0, &one_thread);
  omp_set_num_threads(threads);
  CHECK(all_threads == one_thread);
  cpu::sum<double>(cpu_stream, 0, r.data(), 1.0, &got);
  CHECK(got == 0.0);
  const std::vector<double> few{1, 2, 3.5};
  cpu::sum<double>(cpu_stream, 3, few.data(), 1.0, &got);
  CHECK(got == 6.5);
  const k::Span<const double> few_span{few.data(), 3};
  cpu::total_norm<double>(cpu_stream, &few_span, 1, &norm);
  CHECK(norm == std::sqrt(17.25));
}

TEST_CASE("fill_from_scalar reads the scalar from memory: sum's backward", "[kernels]") {
  const double g = 3.0;
  std::vector<double> y(5, kInf), y_acc(5, 1.0);
  cpu::fill_from_scalar<double>(cpu_stream, 5, &g, 0.5, y.data(), false);
  cpu::fill_from_scalar<double>(cpu_stream, 5, &g, 0.5, y_acc.data(), true);
  require_close(y, {1.5, 1.5, 1.5, 1.5, 1.5}, 0.0, "fill_from_scalar");
  require_close(y_acc, {2.5, 2.5, 2.5, 2.5, 2.5}, 0.0, "fill_from_scalar accumulate");
}

TEST_CASE("clip_by_norm scales by max_norm / (norm + 1e-6) read from memory, only below 1", "[kernels]") {
  std::vector<double> a{3, 0}, b{0, 4};  // norm 5
  const k::Span<double> spans[2] = {{a.data(), 2}, {b.data(), 2}};
  const double norm = 5.0;
  cpu::clip_by_norm<double>(cpu_stream, spans, 2, &norm, 10.0);  // factor above 1: untouched
  require_close(a, {3, 0}, 0.0, "clip, no change");
  cpu::clip_by_norm<double>(cpu_stream, spans, 2, &norm, 1.0);
  const double f = 1.0 / (5.0 + 1e-6);
  require_close(a, {3 * f, 0}, 1e-15, "clip a");
  require_close(b, {0, 4 * f}, 1e-15, "clip b");
}

TEST_CASE("convert between element types", "[kernels]") {
  const std::vector<std::int64_t> labels{0, 6, -3, 1 << 20};
  std::vector<float> f(4, static_cast<float>(kInf));
  std::vector<double> d(4, kInf);
  cpu::convert<std::int64_t, float>(cpu_stream, 4, labels.data(), f.data());
  cpu::convert<std::int64_t, double>(cpu_stream, 4, labels.data(), d.data());
  require_close(f, {0, 6, -3, 1 << 20}, 0.0, "int64 -> float");
  require_close(d, {0, 6, -3, 1 << 20}, 0.0, "int64 -> double");
  const std::vector<double> src{0.1, -2.5, 1e-3};
  std::vector<float> down(3);
  std::vector<double> up(3);
  cpu::convert<double, float>(cpu_stream, 3, src.data(), down.data());
  cpu::convert<float, double>(cpu_stream, 3, down.data(), up.data());
  CHECK(down[0] == 0.1f);  // rounded to nearest, as static_cast does
  CHECK(up[1] == -2.5);
  CHECK(up[2] == static_cast<double>(1e-3f));
}

// ---------------------------------------------------------------------------------------------
// GEMM and linear
// ---------------------------------------------------------------------------------------------

TEST_CASE("gemm: transposes, beta == 0 never reads C, beta == 1 adds", "[kernels]") {
  // A = [[1, 2, 3], [4, 5, 6]], B = [[1, 0], [0, 1], [1, 1]]: A B = [[4, 5], [10, 11]].
  const std::vector<double> A{1, 2, 3, 4, 5, 6}, B{1, 0, 0, 1, 1, 1};
  const std::vector<double> At{1, 4, 2, 5, 3, 6}, Bt{1, 0, 1, 0, 1, 1};
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      INFO("trans_a " << ta << " trans_b " << tb);
      std::vector<double> C(4, kInf);
      cpu::gemm<double>(cpu_stream, ta, tb, 2, 2, 3, 1.0, ta ? At.data() : A.data(), ta ? 2 : 3,
                        tb ? Bt.data() : B.data(),
                        tb ? 3 : 2, 0.0, C.data(), 2);
      require_close(C, {4, 5, 10, 11}, 0.0, "C = A B over +inf");
    }
  std::vector<float> Af(A.begin(), A.end()), Bf(B.begin(), B.end()), C(4, 1.0f);
  cpu::gemm<float>(cpu_stream, false, false, 2, 2, 3, 2.0f, Af.data(), 3, Bf.data(), 2, 1.0f, C.data(), 2);
  require_close(C, {9, 11, 21, 23}, 0.0, "C = 2 A B + C");
  std::vector<double> empty_k(4, kInf);
  cpu::gemm<double>(cpu_stream, false, false, 2, 2, 0, 1.0, A.data(), 1, B.data(), 2, 0.0, empty_k.data(), 2);
  require_close(empty_k, {0, 0, 0, 0}, 0.0, "k = 0 gives zeros");
}

TEST_CASE("linear forward and backward", "[kernels]") {
  // x [2, 3], W [2, 3], b [2]: y = x W^T + b.
  const k::LinearGeometry g{2, 3, 2};
  const std::vector<double> x{1, 2, 3, -1, 0, 1}, W{1, 0, -1, 2, 1, 0}, b{0.5, -1};
  std::vector<double> y(4, kInf);
  cpu::linear_forward(cpu_stream, g, x.data(), W.data(), b.data(), y.data());
  // row 0: (1 - 3) + 0.5, (2 + 2) - 1; row 1: (-1 - 1) + 0.5, (-2 + 0) - 1
  require_close(y, {-1.5, 3, -1.5, -3}, 0.0, "y");
  std::vector<double> y_nobias(4, kInf);
  cpu::linear_forward<double>(cpu_stream, g, x.data(), W.data(), nullptr, y_nobias.data());
  require_close(y_nobias, {-2, 4, -2, -2}, 0.0, "y without bias");

  const std::vector<double> dy{1, 2, -1, 0.5};
  std::vector<double> dx(6, kInf), dW(6, kInf), db(2, kInf), db_acc(2, 1.0);
  cpu::linear_backward_input(cpu_stream, g, dy.data(), W.data(), dx.data(), false);
  cpu::linear_backward_weight(cpu_stream, g, x.data(), dy.data(), dW.data(), false);
  cpu::linear_backward_bias(cpu_stream, g, dy.data(), db.data(), false);
  cpu::linear_backward_bias(cpu_stream, g, dy.data(), db_acc.data(), true);
  // dx = dy W: row 0 = 1 [1 0 -1] + 2 [2 1 0] = [5 2 -1]; row 1 = -[1 0 -1] + 0.5 [2 1 0].
  require_close(dx, {5, 2, -1, 0, 0.5, 1}, 0.0, "dx");
  // dW = dy^T x: row 0 = 1 [1 2 3] - [-1 0 1] = [2 2 2]; row 1 = 2 [1 2 3] + 0.5 [-1 0 1].
  require_close(dW, {2, 2, 2, 1.5, 4, 6.5}, 0.0, "dW");
  require_close(db, {0, 2.5}, 0.0, "db");
  require_close(db_acc, {1, 3.5}, 0.0, "db accumulate");
  std::vector<double> dx_acc(6, 0.5);
  cpu::linear_backward_input(cpu_stream, g, dy.data(), W.data(), dx_acc.data(), true);
  require_close(dx_acc, {5.5, 2.5, -0.5, 0.5, 1, 1.5}, 0.0, "dx accumulate");
}

// ---------------------------------------------------------------------------------------------
// log_softmax and cross-entropy
// ---------------------------------------------------------------------------------------------

// Two rows, two classes, logits chosen so the softmax is simple: row 0 = [0, ln 3] gives
// p = [1/4, 3/4], row 1 = [ln 4, 0] gives p = [4/5, 1/5]. Targets: 1 and 0.
const std::vector<double> kLogits{0.0, std::log(3.0), std::log(4.0), 0.0};
const std::vector<std::int64_t> kTargets{1, 0};

TEST_CASE("log_softmax forward and backward", "[kernels]") {
  std::vector<double> y(4, kInf);
  cpu::log_softmax_forward<double>(cpu_stream, 2, 2, kLogits.data(), y.data());
  require_close(y, {std::log(0.25), std::log(0.75), std::log(0.8), std::log(0.2)}, 1e-15, "y");
  // dx = dy - p sum(dy): row 0 dy = [1, 1] -> [1 - 1/2, 1 - 3/2]; row 1 dy = [2, 0] -> [2 - 8/5, -2/5].
  const std::vector<double> dy{1, 1, 2, 0};
  std::vector<double> dx(4, kInf);
  cpu::log_softmax_backward<double>(cpu_stream, 2, 2, dy.data(), y.data(), dx.data(), false);
  require_close(dx, {0.5, -0.5, 0.4, -0.4}, 1e-15, "dx");
  // Huge logits must not overflow.
  const std::vector<float> big{1000.0f, 1000.0f, -1000.0f};
  std::vector<float> yb(3);
  cpu::log_softmax_forward<float>(cpu_stream, 1, 3, big.data(), yb.data());
  require_close(yb, {-std::log(2.0), -std::log(2.0), -2000.0 - std::log(2.0)}, 1e-6, "huge logits");
}

// The loss cross_entropy_forward writes, after checking that it reported no bad target.
template <typename T>
double ce_loss(std::int64_t rows, std::int64_t cols, const T* logits, const std::int64_t* target, const T* w,
               double smoothing, T* logp) {
  T loss = static_cast<T>(kInf);
  std::int64_t bad = 0;
  cpu::cross_entropy_forward<T>(cpu_stream, rows, cols, logits, target, w, smoothing, logp, &loss, &bad);
  CHECK(bad == 0);
  return static_cast<double>(loss);
}

// cross_entropy_backward with the upstream gradient in memory, as the kernel reads it.
template <typename T>
void ce_backward(std::int64_t rows, std::int64_t cols, const T* logp, const std::int64_t* target, const T* w,
                 double smoothing, double grad_loss, T* d, bool accumulate) {
  const T g = static_cast<T>(grad_loss);
  cpu::cross_entropy_backward<T>(cpu_stream, rows, cols, logp, target, w, smoothing, &g, d, accumulate);
}

TEST_CASE("cross_entropy by hand: plain, class weights, label smoothing", "[kernels]") {
  std::vector<double> logp(4, kInf), d(4, kInf);

  // Plain mean: (-ln 3/4 - ln 4/5) / 2 = ln(5/3) / 2; gradient (p - onehot) / 2.
  double loss = ce_loss<double>(2, 2, kLogits.data(), kTargets.data(), nullptr, 0.0, logp.data());
  CHECK(loss == Approx(std::log(5.0 / 3.0) / 2.0).epsilon(1e-14));
  ce_backward<double>(2, 2, logp.data(), kTargets.data(), nullptr, 0.0, 1.0, d.data(), false);
  require_close(d, {0.125, -0.125, -0.1, 0.1}, 1e-15, "plain gradient");
  // The upstream gradient scales it, and accumulate adds onto what is there.
  std::vector<double> d_acc(4, 1.0);
  ce_backward<double>(2, 2, logp.data(), kTargets.data(), nullptr, 0.0, 2.0, d_acc.data(), true);
  require_close(d_acc, {1.25, 0.75, 0.8, 1.2}, 1e-15, "scaled and accumulated");

  // Weights w = [1, 3]: W = w[1] + w[0] = 4, loss = (3 ln 4/3 + ln 5/4) / 4, and row i's gradient
  // is w[y_i] (p - onehot) / 4.
  const std::vector<double> w{1.0, 3.0};
  loss = ce_loss<double>(2, 2, kLogits.data(), kTargets.data(), w.data(), 0.0, logp.data());
  CHECK(loss == Approx((3 * std::log(4.0 / 3.0) + std::log(5.0 / 4.0)) / 4.0).epsilon(1e-14));
  ce_backward<double>(2, 2, logp.data(), kTargets.data(), w.data(), 0.0, 1.0, d.data(), false);
  require_close(d, {0.1875, -0.1875, -0.05, 0.05}, 1e-15, "weighted gradient");

  // Smoothing e = 0.2 over C = 2: loss = 0.8 * nll + 0.1 * sum_i sum_c -logp[i, c] / 2, and the
  // gradient is (p - t) / 2 with targets t = 0.9 on the label and 0.1 elsewhere.
  const double nll = std::log(5.0 / 3.0) / 2.0;
  const double all = std::log(4.0) + std::log(4.0 / 3.0) + std::log(5.0 / 4.0) + std::log(5.0);
  loss = ce_loss<double>(2, 2, kLogits.data(), kTargets.data(), nullptr, 0.2, logp.data());
  CHECK(loss == Approx(0.8 * nll + 0.1 * all / 2.0).epsilon(1e-14));
  ce_backward<double>(2, 2, logp.data(), kTargets.data(), nullptr, 0.2, 1.0, d.data(), false);
  require_close(d, {(0.25 - 0.1) / 2, (0.75 - 0.9) / 2, (0.8 - 0.9) / 2, (0.2 - 0.1) / 2}, 1e-15,
                "smoothed gradient");

  // Both: W = 4, q_i[j] = (0.8 w[y_i] [j == y_i] + 0.1 w[j]) / 4, S_i = sum_j q_i[j].
  // Row 0 (y = 1): q = [0.1, 2.4 + 0.3] / 4, S = 0.7; row 1 (y = 0): q = [0.8 + 0.1, 0.3] / 4,
  // S = 0.3. Loss = sum_i sum_j q_i[j] (-logp[i, j]).
  loss = ce_loss<double>(2, 2, kLogits.data(), kTargets.data(), w.data(), 0.2, logp.data());
  const double want = (0.1 * std::log(4.0) + 2.7 * std::log(4.0 / 3.0) + 0.9 * std::log(5.0 / 4.0) +
                       0.3 * std::log(5.0)) / 4.0;
  CHECK(loss == Approx(want).epsilon(1e-14));
  ce_backward<double>(2, 2, logp.data(), kTargets.data(), w.data(), 0.2, 1.0, d.data(), false);
  require_close(d, {0.25 * 0.7 - 0.025, 0.75 * 0.7 - 0.675, 0.8 * 0.3 - 0.225, 0.2 * 0.3 - 0.075}, 1e-15,
                "weighted smoothed gradient");

  // float32 agrees.
  const std::vector<float> lf(kLogits.begin(), kLogits.end());
  std::vector<float> lpf(4);
  const double lossf = ce_loss<float>(2, 2, lf.data(), kTargets.data(), nullptr, 0.0, lpf.data());
  CHECK(lossf == Approx(std::log(5.0 / 3.0) / 2.0).epsilon(1e-6));
}

TEST_CASE("cross_entropy reports a target outside the classes by its row, and never reads with it", "[kernels]") {
  const std::vector<std::int64_t> bad{1, 2};
  std::vector<double> logp(4, kInf);
  double loss = 0;
  std::int64_t bad_row = 0;
  cpu::cross_entropy_forward<double>(cpu_stream, 2, 2, kLogits.data(), bad.data(), nullptr, 0.0, logp.data(), &loss,
                                     &bad_row);
  CHECK(bad_row == 2);  // 1 + the row
  CHECK(std::isnan(loss));
  // Backward skips such a row (its loss was reported) and keeps the others' gradients.
  const std::vector<std::int64_t> negative{-1, 0};
  std::vector<double> lp(4), d(4, kInf);
  CHECK(ce_loss<double>(2, 2, kLogits.data(), kTargets.data(), nullptr, 0.0, lp.data()) > 0);
  ce_backward<double>(2, 2, lp.data(), negative.data(), nullptr, 0.0, 1.0, d.data(), false);
  CHECK(std::isfinite(d[0]));
  CHECK(std::isfinite(d[2]));
}

// ---------------------------------------------------------------------------------------------
// Optimisers
// ---------------------------------------------------------------------------------------------

// One parameter tensor through the multi-tensor steps.
template <typename T>
void sgd_one(const k::ParamSlice<T>& p, const SgdStepOptions& o, bool first_step) {
  cpu::sgd_step<T>(cpu_stream, &p, 1, o, first_step);
}
template <typename T>
void adamw_one(const k::ParamSlice<T>& p, const AdamWStepOptions& o) {
  cpu::adamw_step<T>(cpu_stream, &p, 1, o);
}

TEST_CASE("sgd_step: plain, momentum with dampening and weight decay, nesterov", "[kernels]") {
  // Plain: p = 1 - 0.1 * 0.5.
  {
    std::vector<double> p{1.0}, g{0.5};
    sgd_one<double>({p.data(), g.data(), nullptr, nullptr, 1}, SgdStepOptions{0.1, 0, 0, 0, false}, true);
    CHECK(p[0] == Approx(0.95).epsilon(1e-15));
  }
  // lr 0.1, momentum 0.9, dampening 0.5, weight decay 0.1, g = 0.5 twice, p = 1:
  //   step 1: g' = 0.5 + 0.1 * 1 = 0.6, buf = 0.6 (undamped copy), p = 1 - 0.06 = 0.94
  //   step 2: g' = 0.5 + 0.094 = 0.594, buf = 0.9 * 0.6 + 0.5 * 0.594 = 0.837, p = 0.94 - 0.0837
  {
    const SgdStepOptions o{0.1, 0.9, 0.5, 0.1, false};
    std::vector<double> p{1.0}, g{0.5}, buf{kInf};  // the first step must not read the buffer
    const k::ParamSlice<double> s{p.data(), g.data(), buf.data(), nullptr, 1};
    sgd_one(s, o, true);
    CHECK(p[0] == Approx(0.94).epsilon(1e-15));
    CHECK(buf[0] == Approx(0.6).epsilon(1e-15));
    sgd_one(s, o, false);
    CHECK(buf[0] == Approx(0.837).epsilon(1e-15));
    CHECK(p[0] == Approx(0.8563).epsilon(1e-15));
  }
  // Nesterov, lr 0.1, momentum 0.9, g = 0.5 twice:
  //   step 1: buf = 0.5, g = 0.5 + 0.45 = 0.95, p = 0.905
  //   step 2: buf = 0.45 + 0.5 = 0.95, g = 0.5 + 0.855 = 1.355, p = 0.905 - 0.1355 = 0.7695
  {
    const SgdStepOptions o{0.1, 0.9, 0.0, 0.0, true};
    std::vector<float> p{1.0f}, g{0.5f}, buf{0.0f};
    const k::ParamSlice<float> s{p.data(), g.data(), buf.data(), nullptr, 1};
    sgd_one(s, o, true);
    CHECK(p[0] == Approx(0.905).epsilon(1e-6));
    sgd_one(s, o, false);
    CHECK(buf[0] == Approx(0.95).epsilon(1e-6));
    CHECK(p[0] == Approx(0.7695).epsilon(1e-6));
  }
  // Momentum without a buffer is an error, not a crash.
  std::vector<double> p{1.0}, g{0.5};
  REQUIRE_THROWS_WITH(
      sgd_one<double>({p.data(), g.data(), nullptr, nullptr, 1}, SgdStepOptions{0.1, 0.9, 0, 0, false}, true),
      Contains("momentum buffer"));
}

TEST_CASE("sgd_step over a large buffer matches the scalar rule", "[kernels]") {
  const std::int64_t n = 100001;
  std::mt19937 gen(11);
  auto p = random_vector<float>(n, gen);
  const auto g = random_vector<float>(n, gen);
  std::vector<float> buf(n), p0 = p;
  const SgdStepOptions o{0.05, 0.9, 0.0, 1e-4, false};
  sgd_one<float>({p.data(), g.data(), buf.data(), nullptr, n}, o, true);
  std::vector<double> buf_want(n), p_want(n);
  for (std::int64_t i = 0; i < n; ++i) {
    buf_want[i] = g[i] + 1e-4 * p0[i];
    p_want[i] = p0[i] - 0.05 * buf_want[i];
  }
  require_close(buf, buf_want, 1e-6, "momentum buffer");
  require_close(p, p_want, 1e-6, "parameter");
}

TEST_CASE("adamw_step: two steps by hand", "[kernels]") {
  // p = 1, lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.1; gradients 0.5 then -0.25.
  //   step 1: p = 1 * (1 - 0.01) = 0.99; m = 0.05; v = 0.001 * 0.25 = 0.00025;
  //           m / (1 - 0.9) = 0.5, sqrt(v / (1 - 0.999)) = 0.5,
  //           p = 0.99 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.890000002
  //   step 2: p = 0.890000002 * 0.99 = 0.88110000198; m = 0.045 - 0.025 = 0.02;
  //           v = 0.999 * 0.00025 + 0.001 * 0.0625 = 0.00031225;
  //           m / (1 - 0.81) = 0.105263157895, sqrt(v / (1 - 0.998001)) = 0.395225381...,
  //           p = 0.88110000198 - 0.1 * 0.105263157895 / 0.395225381 = 0.854466298688
  AdamWStepOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.1;
  std::vector<double> p{1.0}, g{0.5}, m{0.0}, v{0.0};  // state starts at zero, as PyTorch's
  const k::ParamSlice<double> s{p.data(), g.data(), m.data(), v.data(), 1};
  o.step = 1;
  adamw_one(s, o);
  CHECK(p[0] == Approx(0.890000002).epsilon(1e-14));
  CHECK(m[0] == Approx(0.05).epsilon(1e-14));
  CHECK(v[0] == Approx(0.00025).epsilon(1e-14));
  g[0] = -0.25;
  o.step = 2;
  adamw_one(s, o);
  CHECK(m[0] == Approx(0.02).epsilon(1e-14));
  CHECK(v[0] == Approx(0.00031225).epsilon(1e-14));
  CHECK(p[0] == Approx(0.8544662986878463).epsilon(1e-14));

  // float32 follows within float rounding.
  std::vector<float> pf{1.0f}, gf{0.5f}, mf{0.0f}, vf{0.0f};
  const k::ParamSlice<float> sf{pf.data(), gf.data(), mf.data(), vf.data(), 1};
  o.step = 1;
  adamw_one(sf, o);
  gf[0] = -0.25f;
  o.step = 2;
  adamw_one(sf, o);
  CHECK(pf[0] == Approx(0.8544662986878463).epsilon(1e-6));

  // Weight decay is decoupled: with a zero gradient the parameter only shrinks by 1 - lr wd
  // (m = v = 0 gives an update of 0 / (0 + eps) = 0).
  std::vector<double> p2{2.0}, g2{0.0}, m2{0.0}, v2{0.0};
  o.step = 1;
  adamw_one<double>({p2.data(), g2.data(), m2.data(), v2.data(), 1}, o);
  CHECK(p2[0] == Approx(2.0 * 0.99).epsilon(1e-15));
}
