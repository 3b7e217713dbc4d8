// bf16 on the GPU (docs/precision.md): the float32 -> packed bf16 conversion bit for bit against
// an independent rounding (support.h's nearest_bf16); linear under AutocastGuard(BFloat16)
// through cuBLAS's bf16 GEMM and conv2d through the implicit GEMM reading packed bf16, forward
// and both gradients, against the CPU's bf16 ops and against float64 on the rounded operands;
// that their nodes keep half-size copies; and that repeated steps, a narrow FER model's training
// steps included, take no memory from the driver. On a GPU, or on the emulator (tools/cuda_emu),
// whose cuBLAS computes GEMMEx's bf16 inputs exactly widened, with FP32 fused multiply-adds.
#include <catch2/catch.hpp>

#include "minidl/config.h"
#include "support.h"

#if MINIDL_WITH_CUDA

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "minidl/core/allocator.h"
#include "minidl/core/ops.h"
#include "minidl/core/precision.h"
#include "minidl/core/rng.h"
#include "minidl/layers/loss.h"
#include "minidl/layers/optim.h"
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/runtime.h"
#include "minidl/models/resnet.h"

using namespace minidl;
namespace kc = minidl::kernels::cuda;

namespace {

std::vector<double> values(const Tensor& t) { return t.to(Device::cpu()).to(DType::Float64).to_vector<double>(); }

// max |got - want| / max |want|, printed, and required to be at most tol.
void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol, const std::string& what) {
  const double e = test::error_over_max(got, want);
  std::cout << "[cuda parity] bf16 " << what << ": worst error / max |reference| = " << e << std::endl;
  INFO(what << ": worst error / max |reference| = " << e << " (tolerance " << tol << ")");
  CHECK(e <= tol);
}

Tensor rounded(const Tensor& t) {
  std::vector<float> v = t.to(Device::cpu()).to_vector<float>();
  for (float& x : v) x = test::nearest_bf16(x);
  return Tensor::from_vector(v, t.shape());
}

struct Grads {
  std::vector<double> y, dx, dw, db;
};

// linear under the bf16 policy on `device`, y = linear(x, w, b) used twice (so each gradient is
// written by one backward product and accumulated by the other), backward with upstream gy.
Grads bf16_linear(const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& gy, Device device) {
  Tensor x = x0.to(device).requires_grad_(), w = w0.to(device).requires_grad_(), b = b0.to(device).requires_grad_();
  Tensor y1, y2;
  {
    AutocastGuard bf16(Precision::BFloat16);
    y1 = linear(x, w, b);
    y2 = linear(x, w, b);
  }
  add(y1, y2).backward(gy.to(device));
  return {values(y1), values(x.grad()), values(w.grad()), values(b.grad())};
}

}  // namespace

TEST_CASE("cuda parity: float32 to packed bf16, bit for bit against the nearest bf16", "[cuda][bf16]") {
  if (test::no_gpu()) return;
  const std::vector<float> in = test::bf16_test_inputs();
  const std::size_t n = in.size();
  kc::set_device(0);
  void* dx = kc::malloc(n * sizeof(float));
  void* dy = kc::malloc(n * sizeof(kernels::bfloat16));
  std::vector<std::uint16_t> got(n, 0xffffu);
  kc::memcpy_async(dx, in.data(), n * sizeof(float), kc::CopyKind::HostToDevice, kc::stream(0));
  kc::to_bfloat16(kc::stream(0), static_cast<std::int64_t>(n), static_cast<const float*>(dx),
                  static_cast<kernels::bfloat16*>(dy));
  kc::memcpy_async(got.data(), dy, n * sizeof(std::uint16_t), kc::CopyKind::DeviceToHost, kc::stream(0));
  kc::synchronize(0);
  kc::free(dx);
  kc::free(dy);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t want = test::float_bits(test::nearest_bf16(in[i])) >> 16, g = got[i];
    // A NaN must stay a NaN (exponent all ones, some mantissa bit set), whatever its payload.
    const bool same = std::isnan(in[i]) ? (g & 0x7f80u) == 0x7f80u && (g & 0x007fu) != 0 : g == want;
    if (!same && bad++ < 5)
      UNSCOPED_INFO("input bits " << std::hex << test::float_bits(in[i]) << ": got " << g << ", want " << want);
  }
  std::cout << "[cuda parity] to_bfloat16: " << bad << " of " << n << " inputs differ" << std::endl;
  CHECK(bad == 0);
}

TEST_CASE("cuda parity: packing into channels-last bf16 and widening back, bit for bit against host loops",
          "[cuda][bf16]") {
  if (test::no_gpu()) return;
  // Sizes that are not multiples of the kernels' 32 x 32 tiles, on both sides.
  const std::int64_t n = 3, c = 37, hw = 45, total = n * c * hw;
  const std::vector<float> pool = test::bf16_test_inputs();  // ties, NaN, inf, subnormals...
  std::vector<float> x(total), init(total), bias(c);
  Generator gen(41);
  const std::vector<float> noise = Tensor::randn({total + c}, gen).to_vector<float>();
  for (std::int64_t i = 0; i < total; ++i) {
    x[i] = i % 3 == 0 ? pool[(i * 7919) % pool.size()] : noise[i] * 100.f;
    init[i] = noise[(i * 31) % total];
  }
  for (std::int64_t ch = 0; ch < c; ++ch) bias[ch] = noise[total + ch];
  kc::set_device(0);
  const auto s = kc::stream(0);
  void* dx = kc::malloc(total * sizeof(float));
  void* dp = kc::malloc(total * sizeof(kernels::bfloat16));
  void* dout = kc::malloc(total * sizeof(float));
  kc::memcpy_async(dx, x.data(), total * sizeof(float), kc::CopyKind::HostToDevice, s);
  void* dbias = kc::malloc(c * sizeof(float));
  kc::memcpy_async(dbias, bias.data(), c * sizeof(float), kc::CopyKind::HostToDevice, s);
  kc::to_bfloat16_channels_last(s, n, c, hw, static_cast<const float*>(dx), static_cast<kernels::bfloat16*>(dp));
  std::vector<std::uint16_t> packed(total);
  kc::memcpy_async(packed.data(), dp, total * 2, kc::CopyKind::DeviceToHost, s);
  // Widening: once overwriting with the bias, once accumulating without it.
  std::vector<float> widened(total), accumulated(total);
  kc::from_bfloat16_channels_last(s, n, c, hw, static_cast<const kernels::bfloat16*>(dp),
                                  static_cast<const float*>(dbias), static_cast<float*>(dout), false);
  kc::memcpy_async(widened.data(), dout, total * sizeof(float), kc::CopyKind::DeviceToHost, s);
  kc::memcpy_async(dout, init.data(), total * sizeof(float), kc::CopyKind::HostToDevice, s);
  kc::from_bfloat16_channels_last(s, n, c, hw, static_cast<const kernels::bfloat16*>(dp), nullptr,
                                  static_cast<float*>(dout), true);
  kc::memcpy_async(accumulated.data(), dout, total * sizeof(float), kc::CopyKind::DeviceToHost, s);
  kc::synchronize(0);
  for (void* p : {dx, dp, dout, dbias}) kc::free(p);
  std::size_t bad_pack = 0, bad_widen = 0;
  auto same = [](float a, float b) { return std::isnan(a) ? std::isnan(b) : test::float_bits(a) == test::float_bits(b); };
  for (std::int64_t img = 0; img < n; ++img)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t p = 0; p < hw; ++p) {
        const std::int64_t nchw = (img * c + ch) * hw + p, nhwc = (img * hw + p) * c + ch;
        const float want = test::nearest_bf16(x[nchw]);
        const std::uint32_t wbits = test::float_bits(want) >> 16, got = packed[nhwc];
        const bool ok = std::isnan(want) ? (got & 0x7f80u) == 0x7f80u && (got & 0x007fu) != 0 : got == wbits;
        if (!ok && bad_pack++ < 5) UNSCOPED_INFO("pack [" << img << ", " << ch << ", " << p << "]: got " << got);
        if (!same(widened[nchw], want + bias[ch]) || !same(accumulated[nchw], init[nchw] + want))
          if (bad_widen++ < 5) UNSCOPED_INFO("widen [" << img << ", " << ch << ", " << p << "]");
      }
  std::cout << "[cuda parity] channels-last bf16: " << bad_pack << " packed and " << bad_widen << " widened of " << total
            << " differ" << std::endl;
  CHECK(bad_pack == 0);
  CHECK(bad_widen == 0);
}

TEST_CASE("cuda parity: bf16 linear through cuBLAS GEMMEx matches the CPU's bf16 linear and float64",
          "[cuda][bf16]") {
  if (test::no_gpu()) return;
  Generator gen(31);
  const std::int64_t n = 33, in = 300, out = 70;
  const Tensor x = Tensor::randn({n, in}, gen), w = Tensor::randn({out, in}, gen), b = Tensor::randn({out}, gen);
  const Tensor gy = Tensor::randn({n, out}, gen);
  const Grads gpu = bf16_linear(x, w, b, gy, Device::cuda());
  const Grads cpu = bf16_linear(x, w, b, gy, Device::cpu());
  // The same rounded operands and FP32 accumulation on both sides: they differ by the order of
  // the additions only.
  check_close(gpu.y, cpu.y, 1e-5, "linear y vs CPU");
  check_close(gpu.dx, cpu.dx, 1e-5, "linear dx vs CPU");
  check_close(gpu.dw, cpu.dw, 1e-5, "linear dw vs CPU");
  check_close(gpu.db, cpu.db, 1e-6, "linear db vs CPU");
  // float64 on operands rounded here, independently of kernels/bf16.h: a conversion that
  // truncated, or a GEMM that read the wrong operand, is off by far more than 1e-5.
  const test::LinearReference ref = test::linear_reference(n, in, out, values(rounded(x)), values(rounded(w)), values(b),
                                                           values(rounded(gy)), values(gy), 2.0);
  check_close(gpu.y, ref.y, 1e-5, "linear y vs float64");
  check_close(gpu.dx, ref.dx, 1e-5, "linear dx vs float64");
  check_close(gpu.dw, ref.dw, 1e-5, "linear dw vs float64");
  check_close(gpu.db, ref.db, 1e-6, "linear db vs float64");
}

TEST_CASE("cuda: bf16 linear keeps half-size bf16 copies for backward and takes no memory from the driver when "
          "repeated",
          "[cuda][bf16][allocator]") {
  if (test::no_gpu()) return;
  Generator gen(32);
  const std::int64_t n = 40, in = 256, out = 24;
  Tensor x = Tensor::randn({n, in}, gen).to(Device::cuda()).requires_grad_();
  Tensor w = Tensor::randn({out, in}, gen).to(Device::cuda()).requires_grad_();
  Tensor b = Tensor::randn({out}, gen).to(Device::cuda()).requires_grad_();
  Allocator& alloc = allocator_for(Device::cuda());
  auto step = [&] {
    Tensor y;
    {
      AutocastGuard bf16(Precision::BFloat16);
      y = linear(x, w, b);
    }
    sum(y).backward();
  };
  step();  // the first step fills the caching allocator
  kc::synchronize(0);
  // The forward's memory: y (float32) and the node's two packed copies (2 bytes an element), not
  // the float32 copies the rounding into tensors took.
  {
    const std::size_t before = alloc.stats().bytes_in_use;
    Tensor y;
    {
      AutocastGuard bf16(Precision::BFloat16);
      y = linear(x, w, b);
    }
    const std::size_t taken = alloc.stats().bytes_in_use - before;
    const std::size_t want = CachingAllocator::round_size(n * out * 4) + CachingAllocator::round_size(n * in * 2) +
                             CachingAllocator::round_size(out * in * 2);
    INFO("bytes taken by a bf16 linear forward: " << taken << ", want " << want);
    CHECK(taken == want);
  }
  const kc::DriverCounters c0 = kc::driver_counters();
  for (int i = 0; i < 3; ++i) step();
  kc::synchronize(0);
  const kc::DriverCounters c1 = kc::driver_counters();
  CHECK(c1.mallocs == c0.mallocs);
  CHECK(c1.frees == c0.frees);
}

namespace {

struct ConvResult {
  std::vector<double> y, dx, dw, db;
};

// conv2d under the bf16 policy on `device`, used twice (so the second backward accumulates into
// each gradient), backward with upstream gy.
ConvResult bf16_conv(const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& gy, const Conv2dOptions& opt,
                     Device device) {
  Tensor x = x0.to(device).requires_grad_(), w = w0.to(device).requires_grad_();
  Tensor b = b0.defined() ? b0.to(device).requires_grad_() : Tensor();
  Tensor y1, y2;
  {
    AutocastGuard bf16(Precision::BFloat16);
    y1 = conv2d(x, w, b, opt);
    y2 = conv2d(x, w, b, opt);
  }
  add(y1, y2).backward(gy.to(device));
  return {values(y1), values(x.grad()), values(w.grad()), b.defined() ? values(b.grad()) : std::vector<double>()};
}

// The convolution backend under test, whatever the build's default.
struct ConvBackendGuard {
  explicit ConvBackendGuard(const char* name) { kc::set_conv_backend(name); }
  ~ConvBackendGuard() { kc::set_conv_backend("auto"); }
};

bool have_cudnn() { return kc::conv_backend_available("cudnn"); }

// The backends that read packed bf16 in this build: the implicit GEMM, and cuDNN where built.
std::vector<const char*> bf16_conv_backends() {
  std::vector<const char*> b = {"implicit_gemm"};
  if (have_cudnn()) b.push_back("cudnn");
  return b;
}

// The bf16 convolution parity checks on one backend. The implicit GEMM's results are FP32 sums
// of exact products, so it agrees with the CPU and with float64 to FP32 rounding; cuDNN's legacy
// API writes bf16 results (kernels/conv2d.h), so y, dx and dw are each rounded to bf16 once per
// use: at most 2^-8 of the rounded value (bf16 has 8 significant bits), so at most 2^-8 of the sum
// of the magnitudes of the two uses' parts, or of the convolution part of y before its bias is
// added. Twice that is the tolerance (the emulator's cuDNN has shown up to 3.4e-3), while a
// wrong layout or operand is O(1).
void check_bf16_conv(const char* backend, double tol) {
  ConvBackendGuard selected(backend);
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dOptions opt;
    bool bias;
  };
  // 3x3 stride 1 (backward-weight's K = 4 x 16 x 16 splits), stride 2, grouped and dilated, 1x1,
  // and channel counts that are not multiples of the 32 x 32 tiles of the channels-last packing.
  const Case cases[] = {{"3x3 stride 1", {4, 16, 16, 16}, {32, 16, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}, true},
                        {"3x3 stride 2", {2, 16, 11, 11}, {24, 16, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, 1}, true},
                        {"groups 4, dilation 2", {2, 16, 10, 10}, {32, 4, 3, 3}, {{1, 1}, {2, 2}, {2, 2}, 4}, false},
                        {"1x1 stride 2", {2, 8, 9, 9}, {12, 8, 1, 1}, {{2, 2}, {0, 0}, {1, 1}, 1}, false},
                        {"7x7 stride 2, 1 -> 37 channels", {3, 1, 13, 13}, {37, 1, 7, 7}, {{2, 2}, {3, 3}, {1, 1}, 1},
                         true},
                        {"3x3, 37 -> 40 channels", {2, 37, 6, 7}, {40, 37, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}, false}};
  Generator gen(33);
  for (const Case& c : cases) {
    INFO(backend << ": " << c.name);
    const Tensor x = Tensor::randn(c.x, gen), w = Tensor::randn(c.w, gen);
    const Tensor b = c.bias ? Tensor::randn({c.w[0]}, gen) : Tensor();
    const Tensor y_shape = conv2d(x, w, Tensor(), c.opt);
    const Tensor gy = Tensor::randn(y_shape.shape(), gen);
    const ConvResult gpu = bf16_conv(x, w, b, gy, c.opt, Device::cuda());
    const ConvResult cpu = bf16_conv(x, w, b, gy, c.opt, Device::cpu());
    const std::string tag = std::string("conv2d ") + backend + " " + c.name;
    check_close(gpu.y, cpu.y, tol, tag + " y vs CPU");
    check_close(gpu.dx, cpu.dx, tol, tag + " dx vs CPU");
    check_close(gpu.dw, cpu.dw, tol, tag + " dw vs CPU");
    if (c.bias) check_close(gpu.db, cpu.db, 1e-5, tag + " db vs CPU");  // an FP32 sum on every backend
    // float64 on operands rounded here, independently of kernels/bf16.h (and the gradient of
    // the two uses: 2 gy).
    Tensor xr = rounded(x).to(DType::Float64).requires_grad_(), wr = rounded(w).to(DType::Float64).requires_grad_();
    Tensor yr = conv2d(xr, wr, Tensor(), c.opt);
    yr.backward(mul(rounded(gy).to(DType::Float64), 2.0));
    std::vector<double> ry = values(yr);
    if (c.bias) {
      const auto bv = values(b);
      const std::int64_t k = c.w[0], pq = yr.size(2) * yr.size(3);
      for (std::size_t i = 0; i < ry.size(); ++i) ry[i] += bv[(i / pq) % k];
    }
    check_close(gpu.y, ry, tol, tag + " y vs float64");
    check_close(gpu.dx, values(xr.grad()), tol, tag + " dx vs float64");
    check_close(gpu.dw, values(wr.grad()), tol, tag + " dw vs float64");
  }
}

// A narrow FER model's bf16 training steps on the GPU, on the selected convolution backend: the
// first loss against the CPU's within loss_tol, and no driver allocation once warm.
void check_bf16_training(double loss_tol) {
  manual_seed(35);
  auto cpu_model = resnet18(1, 7, 8);
  manual_seed(35);
  auto gpu_model = resnet18(1, 7, 8);
  gpu_model->to(Device::cuda());
  Generator gen(36);
  const Tensor x = Tensor::uniform({8, 1, 32, 32}, 0, 1, gen);
  const Tensor y = Tensor::from_vector<std::int64_t>({0, 1, 2, 3, 4, 5, 6, 0});
  const Tensor xg = x.to(Device::cuda()), yg = y.to(Device::cuda());
  CrossEntropyLoss loss_fn;
  SGD gpu_opt(gpu_model->named_parameters(), SGDOptions(0.05).momentum(0.9));
  auto bf16_loss = [&](Module& model, const Tensor& in, const Tensor& target) {
    AutocastGuard bf16(Precision::BFloat16);
    return loss_fn(model.forward(in), target);
  };
  // The first forward pass: the same bf16 operands on both devices up to FP32 accumulation
  // order (and cuDNN's bf16 results), so the losses agree within loss_tol. After two SGD steps the parameters of the
  // two drift far more than FP32 runs do (docs/precision.md, "Tests"), so they are not compared:
  // the per-op parity tests above are the precise checks.
  const double lc = bf16_loss(*cpu_model, x, y).item(), lg = bf16_loss(*gpu_model, xg, yg).item();
  INFO("cpu loss " << lc << ", gpu loss " << lg);
  CHECK(lg == Approx(lc).epsilon(loss_tol));
  auto step = [&] {
    gpu_opt.zero_grad();
    bf16_loss(*gpu_model, xg, yg).backward();
    gpu_opt.step();
  };
  step();
  step();  // the first two fill the caching allocator (the optimiser's buffers come at the first)
  kc::synchronize(0);
  const kc::DriverCounters before = kc::driver_counters();
  for (int i = 0; i < 3; ++i) step();
  kc::synchronize(0);
  const kc::DriverCounters after = kc::driver_counters();
  CHECK(after.mallocs == before.mallocs);
  CHECK(after.frees == before.frees);
}

}  // namespace

TEST_CASE("cuda parity: bf16 conv2d, the implicit GEMM reading packed bf16, matches the CPU's bf16 conv2d and float64",
          "[cuda][bf16][conv]") {
  if (test::no_gpu()) return;
  check_bf16_conv("implicit_gemm", 1e-5);
}

// The implicit GEMM's bf16 GEMMs run on tensor cores wherever the GPU has them (the test above),
// and on CUDA cores when they are switched off: the same exact products, FP32 sums in another
// order, so both paths meet the same tolerance. (On the emulator both sum in k order.)
TEST_CASE("cuda parity: bf16 conv2d on the implicit GEMM runs on tensor cores from sm_80 and on CUDA cores when told",
          "[cuda][bf16][conv]") {
  if (test::no_gpu()) return;
  struct Restore {
    ~Restore() { kc::set_implicit_gemm_tensor_cores(true); }
  } restore;
  const int cc = kc::compute_capability(kc::current_device());
  INFO("compute capability " << cc);
  kc::set_implicit_gemm_tensor_cores(true);  // the default, whatever MINIDL_CUDA_TENSOR_CORES said
  CHECK(kc::implicit_gemm_tensor_cores() == (cc >= 80));  // the emulator is an sm_90
  kc::set_implicit_gemm_tensor_cores(false);
  CHECK_FALSE(kc::implicit_gemm_tensor_cores());
  check_bf16_conv("implicit_gemm", 1e-5);
}

TEST_CASE("cuda parity: bf16 conv2d through cuDNN (channels-last bf16) matches the CPU's bf16 conv2d and float64",
          "[cuda][bf16][conv]") {
  if (test::no_gpu()) return;
  if (!have_cudnn()) {
    test::skip(test::Need::Gpu, "built without cuDNN");
    return;
  }
  check_bf16_conv("cudnn", 1.0 / 128);
}

TEST_CASE("cuda: a bf16 convolution's operand layout follows the backend that runs its forward", "[cuda][bf16][conv]") {
  if (test::no_gpu()) return;
  kernels::Conv2dGeometry g{2, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1, 0, 0};
  REQUIRE(g.finalize());
  kc::set_conv_backend("implicit_gemm");
  CHECK_FALSE(kc::conv2d_bf16_channels_last(g));
  if (have_cudnn()) {
    kc::set_conv_backend("cudnn");
    CHECK(kc::conv2d_bf16_channels_last(g));
  }
  kc::set_conv_backend("auto");
  CHECK(kc::conv2d_bf16_channels_last(g) == have_cudnn());  // auto: cuDNN wherever the build has it
}

TEST_CASE("cuda: bf16 conv2d keeps half-size bf16 copies for backward, on the implicit GEMM and on cuDNN",
          "[cuda][bf16][conv]") {
  if (test::no_gpu()) return;
  for (const char* backend : bf16_conv_backends()) {
    INFO(backend);
    ConvBackendGuard selected(backend);
    Generator gen(34);
    Tensor x = Tensor::randn({2, 8, 12, 12}, gen).to(Device::cuda()).requires_grad_();
    Tensor w = Tensor::randn({16, 8, 3, 3}, gen).to(Device::cuda()).requires_grad_();
    const Conv2dOptions opt{{1, 1}, {1, 1}, {1, 1}, 1};
    Allocator& alloc = allocator_for(Device::cuda());
    auto forward = [&] {
      AutocastGuard bf16(Precision::BFloat16);
      return conv2d(x, w, Tensor(), opt);
    };
    sum(forward()).backward();  // fills the caching allocator (and cuDNN's result space, the workspace)
    kc::synchronize(0);
    const std::size_t before = alloc.stats().bytes_in_use;
    Tensor y = forward();
    const std::size_t taken = alloc.stats().bytes_in_use - before;
    const std::size_t want = CachingAllocator::round_size(y.numel() * 4) +
                             CachingAllocator::round_size(x.numel() * 2) + CachingAllocator::round_size(w.numel() * 2);
    INFO("bytes taken by a bf16 conv2d forward: " << taken << ", want " << want);
    CHECK(taken == want);
  }
}

TEST_CASE("cuda: bf16 training steps of a narrow FER model start as the CPU's and take no memory from the driver",
          "[cuda][bf16][training]") {
  if (test::no_gpu()) return;
  for (const char* backend : bf16_conv_backends()) {
    INFO(backend);
    ConvBackendGuard selected(backend);  // the convolutions read packed bf16 on either
    // cuDNN rounds each convolution's result to bf16 (kernels/conv2d.h), at most 2^-8 of each
    // value at each of the 20 convolutions, so its first loss agrees with the CPU's far less
    // closely than the implicit GEMM's FP32 results do; the per-op tests above are the precise
    // checks.
    const double loss_tol = std::strcmp(backend, "cudnn") == 0 ? 1e-2 : 1e-4;
    check_bf16_training(loss_tol);
  }
}
#else  // !MINIDL_WITH_CUDA

TEST_CASE("cuda parity: bf16", "[cuda][bf16]") { minidl::test::no_gpu(); }

#endif
