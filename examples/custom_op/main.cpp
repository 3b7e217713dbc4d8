// custom_op: an op written outside minidl (swish with beta: swish.h, its CPU kernels in
// swish_cpu.cpp, its CUDA kernels in swish_cuda.cu) and checked the way minidl checks its own:
//   1. gradcheck (minidl/core/gradcheck.h): backward against central differences in float64;
//   2. forward and gradient against the same function composed of minidl's ops, x * sigmoid(b x);
//   3. on a GPU, when one is visible: the CUDA kernels against the CPU ones.
// Exits 1, saying what differed, on any failure.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include <minidl/config.h>
#include <minidl/core/device.h>
#include <minidl/core/gradcheck.h>
#include <minidl/core/ops.h>
#include <minidl/core/rng.h>

#include "swish.h"

using minidl::DType;
using minidl::Tensor;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto u = a.to(minidl::Device::cpu()).to(DType::Float64).to_vector<double>();
  const auto v = b.to(minidl::Device::cpu()).to(DType::Float64).to_vector<double>();
  double worst = 0;
  for (std::size_t i = 0; i < u.size(); ++i) worst = std::max(worst, std::abs(u[i] - v[i]));
  return worst;
}

// The forward and the gradient of sum(f(x) * g) at x (a fresh leaf each call).
std::pair<Tensor, Tensor> forward_backward(const Tensor& x0, const Tensor& g, Tensor (*f)(const Tensor&, double),
                                           double beta) {
  Tensor x = x0.detach().clone().requires_grad_();
  Tensor y = f(x, beta);
  minidl::sum(y * g).backward();
  return {y.detach(), x.grad()};
}

Tensor composed(const Tensor& x, double beta) { return x * minidl::sigmoid(x * beta); }
Tensor ours(const Tensor& x, double beta) { return custom_op::swish(x, beta); }

bool check(bool ok, const std::string& what, double value) {
  std::printf("  %-58s %s (%.3g)\n", what.c_str(), ok ? "ok" : "FAILED", value);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::printf("usage: custom_op\n  Checks the user-defined op swish(x, beta) (gradcheck, against minidl's ops, and\n"
                "  its CUDA kernels against its CPU ones where a GPU is visible). Exit 0 when all pass.\n");
    return 0;
  }
  bool ok = true;
  minidl::Generator gen(7);
  for (const double beta : {1.0, 1.7, -0.4}) {
    std::printf("swish with beta = %g\n", beta);
    // 1. gradcheck: float64 inputs that require grad; throws minidl::Error with the element and
    //    both values on a failure (raise_exception = false returns them instead).
    minidl::GradcheckOptions o;
    o.raise_exception = false;
    const minidl::GradcheckResult r = minidl::gradcheck(
        [beta](const std::vector<Tensor>& in) { return custom_op::swish(in[0], beta); },
        {Tensor::randn({3, 5}, gen, DType::Float64).requires_grad_()}, o);
    if (!r.ok) std::printf("  %s\n", r.message.c_str());
    ok &= check(r.ok, "gradcheck (float64): worst error / tolerance", r.worst);

    // 2. against the composition of minidl's ops, in float32 and float64.
    for (const DType t : {DType::Float32, DType::Float64}) {
      const Tensor x = Tensor::randn({4, 6}, gen, t), g = Tensor::randn({4, 6}, gen, t);
      const auto [y, dx] = forward_backward(x, g, ours, beta);
      const auto [y_ref, dx_ref] = forward_backward(x, g, composed, beta);
      const double tol = t == DType::Float32 ? 1e-5 : 1e-12;
      const std::string in = t == DType::Float32 ? " (float32)" : " (float64)";
      ok &= check(max_abs_diff(y, y_ref) <= tol, "forward vs x * sigmoid(beta x)" + in, max_abs_diff(y, y_ref));
      ok &= check(max_abs_diff(dx, dx_ref) <= tol, "gradient vs x * sigmoid(beta x)" + in, max_abs_diff(dx, dx_ref));
    }

    // 3. the CUDA kernels against the CPU ones.
#if MINIDL_WITH_CUDA
    if (minidl::cuda_available()) {
      const Tensor x = Tensor::randn({257, 33}, gen), g = Tensor::randn({257, 33}, gen);  // more than one block
      const auto [y_cpu, dx_cpu] = forward_backward(x, g, ours, beta);
      const auto [y_gpu, dx_gpu] = forward_backward(x.to(minidl::Device::cuda()), g.to(minidl::Device::cuda()), ours, beta);
      ok &= check(y_gpu.device().is_cuda() && max_abs_diff(y_gpu, y_cpu) <= 1e-5, "CUDA forward vs CPU",
                  max_abs_diff(y_gpu, y_cpu));
      ok &= check(max_abs_diff(dx_gpu, dx_cpu) <= 1e-5, "CUDA gradient vs CPU", max_abs_diff(dx_gpu, dx_cpu));
    } else {
      std::printf("  CUDA kernels compiled; no GPU visible, so not run here\n");
    }
#else
    std::printf("  this minidl has no CUDA backend: CPU kernels only\n");
#endif
  }
  std::printf(ok ? "custom_op: all checks passed\n" : "custom_op: FAILED\n");
  return ok ? 0 : 1;
}
