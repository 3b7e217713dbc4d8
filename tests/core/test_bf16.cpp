// The precision policy (core/precision.h): bf16 rounding against an independent reference, and
// conv2d and linear under AutocastGuard(BFloat16), forward and backward, against float64
// arithmetic on the bf16-rounded operands (which they must match to FP32 accumulation error)
// and against their FP32 results (which they must match within bf16's precision). Everything
// the policy leaves in FP32 must come out bit-identical with and without the guard.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

#include "minidl/core/allocator.h"
#include "minidl/core/autograd.h"
#include "minidl/core/ops.h"
#include "minidl/core/precision.h"
#include "minidl/core/rng.h"
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/cpu/conv2d_backends.h"
#include "support.h"

using namespace minidl;
using Catch::Matchers::Contains;

namespace {

using test::nearest_bf16;
std::uint32_t bits(float v) { return test::float_bits(v); }
float from_bits(std::uint32_t u) { return test::float_from_bits(u); }

std::vector<double> values(const Tensor& t) { return t.to(DType::Float64).to_vector<double>(); }

// Element i must satisfy |got - want| <= tol * (1 + |want| scale) where scale is the largest
// |want|; the worst ratio is printed so a failure says how far off it was.
void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol, const char* what) {
  REQUIRE(got.size() == want.size());
  double scale = 0, worst = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]) / (scale + 1e-30));
  INFO(what << ": worst error / max |reference| = " << worst << " (tolerance " << tol << ")");
  CHECK(worst <= tol);
}

Tensor rounded(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  for (float& x : v) x = nearest_bf16(x);
  return Tensor::from_vector(v, t.shape());
}

// conv2d under the bf16 policy, forward and backward, on every CPU backend that runs here,
// against the float64 results ry, rdx, rdw.
void check_conv_bf16_on_every_cpu_backend(const Tensor& x0, const Tensor& w0, const Tensor& gy,
                                          const Conv2dOptions& opt, const std::vector<double>& ry,
                                          const std::vector<double>& rdx, const std::vector<double>& rdw) {
  struct AutoAfter {  // the setting goes back to auto even when a REQUIRE throws
    ~AutoAfter() { kernels::cpu::set_conv_backend("auto"); }
  } auto_after;
  for (const auto& backend : kernels::cpu::conv_backends<float>()) {
    if (!kernels::cpu::conv_backend_available(backend.name)) continue;
    INFO("backend " << backend.name);
    kernels::cpu::set_conv_backend(backend.name);
    Tensor x = x0.detach().requires_grad_(), w = w0.detach().requires_grad_();
    Tensor y;
    {
      AutocastGuard bf16(Precision::BFloat16);
      y = conv2d(x, w, Tensor(), opt);
    }
    y.backward(gy);
    check_close(values(y), ry, 1e-5, "y");
    check_close(values(x.grad()), rdx, 1e-5, "dx");
    check_close(values(w.grad()), rdw, 1e-5, "dw");
  }
}

// Direct convolution in double: y[n,k,oy,ox] = b[k] + sum x[n,c,iy,ix] w[k,c,r,s], and its
// two backward products, written from the definition.
struct ConvRef {
  std::int64_t n, c, h, w, k, r, s, stride, pad, oh, ow;
  template <typename F>
  void each(F f) const {
    for (std::int64_t b = 0; b < n; ++b)
      for (std::int64_t o = 0; o < k; ++o)
        for (std::int64_t oy = 0; oy < oh; ++oy)
          for (std::int64_t ox = 0; ox < ow; ++ox)
            for (std::int64_t ci = 0; ci < c; ++ci)
              for (std::int64_t ky = 0; ky < r; ++ky)
                for (std::int64_t kx = 0; kx < s; ++kx) {
                  const std::int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                  f(((b * k + o) * oh + oy) * ow + ox, ((b * c + ci) * h + iy) * w + ix, ((o * c + ci) * r + ky) * s + kx);
                }
  }
};

}  // namespace

TEST_CASE("bf16: rounding is to nearest even and keeps NaN and infinity", "[bf16]") {
  const std::vector<float> in = test::bf16_test_inputs();
  Tensor x = Tensor::from_vector(in);
  Tensor y = Tensor::empty_like(x);
  kernels::cpu::round_to_bf16(kernels::cpu::Stream{}, x.numel(), x.data<float>(), y.data<float>());
  const float* got = y.data<float>();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const float want = nearest_bf16(in[i]);
    const bool same = std::isnan(want) ? std::isnan(got[i]) && (bits(got[i]) & 0xffffu) == 0 : bits(got[i]) == bits(want);
    if (!same) {
      if (bad++ < 5) UNSCOPED_INFO("input bits " << std::hex << bits(in[i]) << " got " << bits(got[i]) << " want " << bits(want));
    }
  }
  CHECK(bad == 0);
  CHECK(bits(kernels::round_to_bf16(from_bits(0x3f808000u))) == 0x3f800000u);  // tie, even: down
  CHECK(bits(kernels::round_to_bf16(from_bits(0x3f818000u))) == 0x3f820000u);  // tie, odd: up
  CHECK(std::isinf(kernels::round_to_bf16(std::numeric_limits<float>::max())));
}

TEST_CASE("bf16: the policy is scoped, nests, and parses its names", "[bf16]") {
  CHECK(autocast_precision() == Precision::Float32);
  {
    AutocastGuard outer(Precision::BFloat16);
    CHECK(autocast_precision() == Precision::BFloat16);
    {
      AutocastGuard inner(Precision::Float32);
      CHECK(autocast_precision() == Precision::Float32);
    }
    CHECK(autocast_precision() == Precision::BFloat16);
  }
  CHECK(autocast_precision() == Precision::Float32);
  CHECK(parse_precision("bf16") == Precision::BFloat16);
  CHECK(parse_precision("fp32") == Precision::Float32);
  CHECK_THROWS_WITH(parse_precision("fp16", "--precision"), Contains("--precision") && Contains("fp16") && Contains("bf16"));
  CHECK(std::string(precision_name(Precision::BFloat16)) == "bf16");
  CHECK_FALSE(cpu_bf16_note().empty());
}

TEST_CASE("bf16: conv2d forward and backward against float64 on rounded operands", "[bf16]") {
  Generator gen(11);
  const ConvRef g{2, 3, 7, 7, 4, 3, 3, 2, 1, 4, 4};
  Tensor x = Tensor::randn({g.n, g.c, g.h, g.w}, gen).requires_grad_();
  Tensor w = Tensor::randn({g.k, g.c, g.r, g.s}, gen).requires_grad_();
  Tensor b = Tensor::randn({g.k}, gen).requires_grad_();
  Tensor gy = Tensor::randn({g.n, g.k, g.oh, g.ow}, gen);
  const Conv2dOptions opt{{g.stride, g.stride}, {g.pad, g.pad}};

  Tensor y;
  {
    AutocastGuard bf16(Precision::BFloat16);
    y = conv2d(x, w, b, opt);
  }
  CHECK(y.dtype() == DType::Float32);
  y.backward(gy);  // outside the guard: the node keeps the precision of its forward

  // float64 reference on the rounded operands (bias and bias gradient unrounded).
  const auto xr = values(rounded(x)), wr = values(rounded(w)), gyr = values(rounded(gy)), gyv = values(gy);
  const auto bv = values(b);
  std::vector<double> ry(gyv.size()), rdx(xr.size(), 0.0), rdw(wr.size(), 0.0), rdb(bv.size(), 0.0);
  for (std::size_t i = 0; i < ry.size(); ++i) ry[i] = bv[(i / (g.oh * g.ow)) % g.k];
  g.each([&](std::int64_t yi, std::int64_t xi, std::int64_t wi) {
    ry[yi] += xr[xi] * wr[wi];
    rdx[xi] += gyr[yi] * wr[wi];
    rdw[wi] += gyr[yi] * xr[xi];
  });
  for (std::size_t i = 0; i < gyv.size(); ++i) rdb[(i / (g.oh * g.ow)) % g.k] += gyv[i];
  check_close(values(y), ry, 1e-6, "y");
  check_close(values(x.grad()), rdx, 1e-6, "dx");
  check_close(values(w.grad()), rdw, 1e-6, "dw");
  check_close(values(b.grad()), rdb, 1e-6, "db");

  // Against the FP32 op: within bf16's precision (8 significant bits on each operand), and not
  // equal to it (the guard did round).
  Tensor x32 = x.detach().requires_grad_(), w32 = w.detach().requires_grad_(), b32 = b.detach().requires_grad_();
  Tensor y32 = conv2d(x32, w32, b32, opt);
  y32.backward(gy);
  check_close(values(y), values(y32), 2e-2, "y vs FP32");
  check_close(values(x.grad()), values(x32.grad()), 2e-2, "dx vs FP32");
  check_close(values(w.grad()), values(w32.grad()), 2e-2, "dw vs FP32");
  CHECK(values(y) != values(y32));
}

// Each CPU convolution backend under the policy, oneDNN's bf16 kernels among them: a geometry
// large enough for oneDNN's blocked kernels (16 and 32 channels), every direction against float64
// on the rounded operands. The tolerance is FP32 accumulation's over 144 products per output
// (bf16 kernels accumulate in FP32 too, in another order). On a CPU with bf16 arithmetic
// oneDNN must have run its bf16 kernels, and on one without it must not claim to.
TEST_CASE("bf16: every CPU conv backend, oneDNN's bf16 kernels included, matches float64 on rounded operands",
          "[bf16][conv]") {
  Generator gen(13);
  const ConvRef g{2, 16, 9, 9, 32, 3, 3, 1, 1, 9, 9};
  const Tensor x0 = Tensor::randn({g.n, g.c, g.h, g.w}, gen), w0 = Tensor::randn({g.k, g.c, g.r, g.s}, gen);
  const Tensor gy = Tensor::randn({g.n, g.k, g.oh, g.ow}, gen);
  const Conv2dOptions opt{{g.stride, g.stride}, {g.pad, g.pad}};
  const auto xr = values(rounded(x0)), wr = values(rounded(w0)), gyr = values(rounded(gy));
  std::vector<double> ry(gyr.size(), 0.0), rdx(xr.size(), 0.0), rdw(wr.size(), 0.0);
  g.each([&](std::int64_t yi, std::int64_t xi, std::int64_t wi) {
    ry[yi] += xr[xi] * wr[wi];
    rdx[xi] += gyr[yi] * wr[wi];
    rdw[wi] += gyr[yi] * xr[xi];
  });
  kernels::Conv2dGeometry kg{g.n, g.c, g.h, g.w, g.k, g.r, g.s, g.stride, g.stride, g.pad, g.pad, 0, 0};
  REQUIRE(kg.finalize());
  kg.bf16_operands = true;
  check_conv_bf16_on_every_cpu_backend(x0, w0, gy, opt, ry, rdx, rdw);
  if (kernels::cpu::conv_backend_available("onednn"))
    for (auto d : {kernels::ConvDirection::Forward, kernels::ConvDirection::BackwardData,
                   kernels::ConvDirection::BackwardFilter}) {
      INFO(kernels::conv_direction_name(d));
      CHECK(kernels::cpu::onednn::runs_bf16(d, kg) == cpu_has_bf16());
    }
}

// On the CPU the convolution kernels round the operands themselves (oneDNN in its layout
// reorder, the others into scratch), so a conv2d under the policy takes no more tensor memory
// than an FP32 one: no rounded copies of the input, weight or upstream gradient are made or kept.
TEST_CASE("bf16: conv2d on the CPU makes and keeps no rounded copies", "[bf16][conv]") {
  Generator gen(14);
  const Tensor x = Tensor::randn({4, 16, 12, 12}, gen).requires_grad_(), w = Tensor::randn({32, 16, 3, 3}, gen);
  const Tensor gy = Tensor::randn({4, 32, 12, 12}, gen);
  const Conv2dOptions opt{{1, 1}, {1, 1}};
  Allocator& cpu = cpu_allocator();
  const auto grow = [&](Precision p) {  // tensor bytes held after the forward
    Tensor xi = x.detach().requires_grad_(), wi = w.detach().requires_grad_();
    const std::size_t before = cpu.stats().bytes_in_use;
    Tensor y;
    {
      AutocastGuard guard(p);
      y = conv2d(xi, wi, Tensor(), opt);
    }
    const std::size_t after_forward = cpu.stats().bytes_in_use - before;
    y.backward(gy);
    return after_forward;
  };
  const std::size_t fp32 = grow(Precision::Float32), bf16 = grow(Precision::BFloat16);
  INFO("tensor bytes held after forward: fp32 " << fp32 << ", bf16 " << bf16);
  CHECK(bf16 == fp32);
}

// Grouped and dilated convolutions under the policy: the entry points round a weight of
// k * c / groups * r * s values (not k * c * r * s), and oneDNN's bf16 plans take grouped weights.
// Each backend's bf16 result against float64 loops (the reference backend) on rounded operands.
TEST_CASE("bf16: grouped and dilated conv2d on every CPU backend matches float64 on rounded operands",
          "[bf16][conv]") {
  Generator gen(15);
  const Tensor x0 = Tensor::randn({2, 16, 10, 10}, gen), w0 = Tensor::randn({32, 4, 3, 3}, gen);
  const Conv2dOptions opt{{1, 1}, {2, 2}, {2, 2}, 4};
  const Tensor gy = Tensor::randn({2, 32, 10, 10}, gen);
  // float64 on the rounded operands (and rounded upstream gradient): the yardstick.
  Tensor xr = rounded(x0).to(DType::Float64).requires_grad_(), wr = rounded(w0).to(DType::Float64).requires_grad_();
  Tensor yr = conv2d(xr, wr, Tensor(), opt);
  yr.backward(rounded(gy).to(DType::Float64));
  check_conv_bf16_on_every_cpu_backend(x0, w0, gy, opt, values(yr), values(xr.grad()), values(wr.grad()));
}

TEST_CASE("bf16: linear forward and backward against float64 on rounded operands", "[bf16]") {
  Generator gen(12);
  const std::int64_t n = 5, in = 37, out = 6;
  Tensor x = Tensor::randn({n, in}, gen).requires_grad_();
  Tensor w = Tensor::randn({out, in}, gen).requires_grad_();
  Tensor b = Tensor::randn({out}, gen).requires_grad_();
  Tensor gy = Tensor::randn({n, out}, gen);
  Tensor y;
  {
    AutocastGuard bf16(Precision::BFloat16);
    y = linear(x, w, b);
  }
  y.backward(gy);
  const test::LinearReference ref =
      test::linear_reference(n, in, out, values(rounded(x)), values(rounded(w)), values(b), values(rounded(gy)), values(gy));
  check_close(values(y), ref.y, 1e-6, "y");
  check_close(values(x.grad()), ref.dx, 1e-6, "dx");
  check_close(values(w.grad()), ref.dw, 1e-6, "dw");
  check_close(values(b.grad()), ref.db, 1e-6, "db");
  Tensor y32 = linear(x.detach(), w.detach(), b.detach());
  check_close(values(y), values(y32), 2e-2, "y vs FP32");
  CHECK(values(y) != values(y32));
}

TEST_CASE("bf16: what the policy keeps in FP32 is bit-identical under it, and float64 is untouched", "[bf16]") {
  Generator gen(13);
  Tensor x = Tensor::randn({4, 3, 5, 5}, gen);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3}), gamma = Tensor::randn({3}, gen), beta = Tensor::randn({3}, gen);
  Tensor logits = Tensor::randn({4, 7}, gen);
  Tensor target = Tensor::from_vector<std::int64_t>({0, 3, 6, 2});
  Tensor x64 = Tensor::randn({2, 2, 5, 5}, gen, DType::Float64), w64 = Tensor::randn({3, 2, 3, 3}, gen, DType::Float64);
  auto run = [&] {
    std::vector<std::vector<double>> r;
    Tensor rm2 = rm.clone(), rv2 = rv.clone();
    r.push_back(values(batch_norm(x, rm2, rv2, gamma, beta, true)));
    r.push_back(values(rm2));
    r.push_back(values(relu(x)));
    r.push_back(values(max_pool2d(x, {})));
    r.push_back(values(cross_entropy(logits, target)));
    r.push_back(values(log_softmax(logits)));
    r.push_back(values(conv2d(x64, w64)));
    r.push_back(values(linear(flatten(x64), flatten(x64))));
    return r;
  };
  const auto fp32 = run();
  AutocastGuard bf16(Precision::BFloat16);
  const auto under = run();
  for (std::size_t i = 0; i < fp32.size(); ++i) {
    INFO("result " << i);
    CHECK(under[i] == fp32[i]);
  }
}
