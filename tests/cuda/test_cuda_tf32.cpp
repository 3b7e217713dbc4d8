// allow_tf32 on the implicit GEMM: float32 convolutions multiply on tensor cores with their
// operands rounded to tf32 (kernels/conv2d.h), as cuDNN's do under the same switch. Checked
// against float64 on operands rounded to tf32 here, independently of the kernels' rounding; and
// the switch is shown to change the results (so tf32 ran), and to change nothing with tensor
// cores off. Skipped without a GPU; runs under the CUDA emulator (an sm_90).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "minidl/config.h"
#include "support.h"

#if MINIDL_WITH_CUDA

#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/runtime.h"

using namespace minidl;
namespace kc = minidl::kernels::cuda;

namespace {

// The implicit GEMM, and the switches as a test found them (the defaults) afterwards.
struct Settings {
  Settings() {
    kc::set_conv_backend("implicit_gemm");
    kc::set_implicit_gemm_tensor_cores(true);  // the default, whatever MINIDL_CUDA_TENSOR_CORES said
  }
  ~Settings() {
    kc::set_conv_backend("auto");
    kc::set_allow_tf32(false);
    kc::set_implicit_gemm_tensor_cores(true);
  }
};

// To nearest, ties away from zero (cvt.rna.tf32.f32): 10 explicit mantissa bits.
float nearest_tf32(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  if ((u & 0x7f800000u) != 0x7f800000u) u += 0x1000u;
  u &= 0xffffe000u;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

Tensor rounded_tf32(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  for (float& x : v) x = nearest_tf32(x);
  return Tensor::from_vector(v, t.shape());
}

std::vector<double> values(const Tensor& t) { return t.to(Device::cpu()).to(DType::Float64).to_vector<double>(); }

struct Result {
  std::vector<double> y, dx, dw;
};

// conv2d on the GPU in float32 under the current switches: y, and the gradients for upstream gy.
Result gpu_conv(const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& gy, const Conv2dOptions& opt) {
  Tensor x = x0.to(Device::cuda()).requires_grad_(), w = w0.to(Device::cuda()).requires_grad_();
  const Tensor b = b0.defined() ? b0.to(Device::cuda()) : Tensor();
  Tensor y = conv2d(x, w, b, opt);
  y.backward(gy.to(Device::cuda()));
  return {values(y), values(x.grad()), values(w.grad())};
}

}  // namespace

TEST_CASE("cuda parity: allow_tf32 runs the implicit GEMM's float32 convolutions on tf32 tensor cores",
          "[cuda][conv][tf32]") {
  if (test::no_gpu()) return;
  Settings settings;
  REQUIRE(kc::implicit_gemm_tensor_cores() == (kc::compute_capability(kc::current_device()) >= 80));
  if (!kc::implicit_gemm_tensor_cores()) {
    test::skip(test::Need::Gpu, "this GPU has no tf32 tensor cores (before sm_80)");
    return;
  }
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dOptions opt;
    bool bias;
  };
  // 3x3 stride 1 (backward-weight splits K), stride 2 with bias, grouped and dilated, the stem.
  const Case cases[] = {{"3x3 stride 1", {4, 16, 16, 16}, {32, 16, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}, false},
                        {"3x3 stride 2", {2, 16, 11, 11}, {24, 16, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, 1}, true},
                        {"groups 4, dilation 2", {2, 16, 10, 10}, {32, 4, 3, 3}, {{1, 1}, {2, 2}, {2, 2}, 4}, false},
                        {"7x7 stride 2, 1 -> 37 channels", {3, 1, 13, 13}, {37, 1, 7, 7}, {{2, 2}, {3, 3}, {1, 1}, 1},
                         true}};
  Generator gen(41);
  for (const Case& c : cases) {
    INFO(c.name);
    const Tensor x = Tensor::randn(c.x, gen), w = Tensor::randn(c.w, gen);
    const Tensor b = c.bias ? Tensor::randn({c.w[0]}, gen) : Tensor();
    const Tensor gy = Tensor::randn(conv2d(x, w, Tensor(), c.opt).shape(), gen);

    kc::set_allow_tf32(false);
    const Result fp32 = gpu_conv(x, w, b, gy, c.opt);
    kc::set_allow_tf32(true);
    const Result tf32 = gpu_conv(x, w, b, gy, c.opt);

    // float64 on operands rounded to tf32 here (x and w for y; gy and w for dx; gy and x for dw).
    Tensor xr = rounded_tf32(x).to(DType::Float64).requires_grad_();
    Tensor wr = rounded_tf32(w).to(DType::Float64).requires_grad_();
    Tensor yr = conv2d(xr, wr, b.defined() ? b.to(DType::Float64) : Tensor(), c.opt);
    yr.backward(rounded_tf32(gy).to(DType::Float64));
    const double ey = test::error_over_max(tf32.y, values(yr));
    const double edx = test::error_over_max(tf32.dx, values(xr.grad()));
    const double edw = test::error_over_max(tf32.dw, values(wr.grad()));
    std::cout << "[cuda parity] tf32 conv2d implicit_gemm " << c.name << ": worst error / max |reference| = " << ey
              << " (y), " << edx << " (dx), " << edw << " (dw)" << std::endl;
    CHECK(ey <= 1e-5);  // FP32 sums of exact products: only the order of additions differs
    CHECK(edx <= 1e-5);
    CHECK(edw <= 1e-5);
    // The rounding shows: tf32 keeps 10 of float32's 23 mantissa bits.
    CHECK(test::error_over_max(tf32.y, fp32.y) > 1e-5);

    // Tensor cores off: the FP32 kernel on the unrounded operands, the strict results exactly.
    kc::set_implicit_gemm_tensor_cores(false);
    const Result off = gpu_conv(x, w, b, gy, c.opt);
    kc::set_implicit_gemm_tensor_cores(true);
    CHECK(off.y == fp32.y);
    CHECK(off.dx == fp32.dx);
    CHECK(off.dw == fp32.dw);
  }
}

#endif  // MINIDL_WITH_CUDA
