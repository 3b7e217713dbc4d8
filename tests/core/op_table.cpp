// The three tests each row of the op table becomes (op_table.h), and the drawing of arguments.
#include "op_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "minidl/core/autograd.h"
#include "minidl/core/device.h"
#include "support.h"

namespace minidl::test {

namespace {

Tensor draw(const Arg& a, Generator& gen) {
  switch (a.fill) {
    case Fill::Normal: {
      Tensor t = Tensor::randn(a.shape, gen, DType::Float64);
      return t;
    }
    case Fill::AwayFromZero:
      return away_from_zero(a.shape, gen).detach();
    case Fill::Distinct:
      return distinct_input(a.shape, gen).detach();
    case Fill::Positive:
      return Tensor::uniform(a.shape, 0.5, 2.0, gen, DType::Float64);
    case Fill::Classes: {
      std::int64_t n = 1;
      for (const std::int64_t d : a.shape) n *= d;
      std::vector<std::int64_t> v(static_cast<std::size_t>(n));
      for (auto& c : v) c = static_cast<std::int64_t>(gen.randint(static_cast<std::uint64_t>(a.classes)));
      return Tensor::from_vector<std::int64_t>(v, a.shape);
    }
  }
  return Tensor();
}

std::vector<double> values(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::Float64).to_vector<double>();
}

// The worst element of got against want as a fraction of its tolerance; prints it.
double compare(const std::string& what, const Tensor& got, const Tensor& want, Tol tol) {
  REQUIRE(got.defined());
  REQUIRE(want.defined());
  INFO(what << ": shapes " << got.str() << " and " << want.str());
  REQUIRE(got.shape() == want.shape());
  const auto a = values(got), b = values(want);
  double scale = 0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double r = std::abs(a[i] - b[i]) / (tol.rtol * std::abs(b[i]) + tol.atol * scale + 1e-300);
    if (!(r <= worst)) {  // NaN too
      worst = r;
      at = i;
    }
  }
  std::printf("%-60s worst %.3g of tolerance (element %zu: %.9g vs %.9g; rtol %.0e, atol %.0e)\n", what.c_str(), worst,
              at, a.empty() ? 0.0 : a[at], b.empty() ? 0.0 : b[at], tol.rtol, tol.atol);
  INFO(what << ": worst element " << at << " is " << worst << " of its tolerance");
  CHECK(worst <= 1.0);
  return worst;
}

Tensor upstream_gradient(const Tensor& out, std::uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(out.shape(), gen, DType::Float64);
}

// Forward, then backward with upstream gradient g (converted to the output's device and dtype);
// returns the output and the gradients of the arguments that require grad (undefined otherwise).
std::pair<Tensor, Args> forward_backward(const OpRow& row, Args args, const Tensor& g) {
  Tensor out = row.op(args);
  Args grads(args.size());
  bool any = false;
  for (const auto& a : args) any = any || (a.defined() && a.requires_grad());
  if (any) {
    out.backward(g.to(out.dtype()).to(out.device()));
    for (std::size_t i = 0; i < args.size(); ++i)
      if (args[i].defined() && args[i].requires_grad()) grads[i] = args[i].grad();
  }
  return {out.detach(), grads};
}

void run_gradcheck(const OpRow& row) {
  gradcheck(row.name, row.op, make_args(row, 1), row.gradcheck);
}

void run_reference(const OpRow& row) {
  const Args args64 = make_args(row, 2);
  const Tensor g = upstream_gradient(row.op(convert_args(args64, Device::cpu(), DType::Float64)), 3);
  // float64 through core/ops against the reference loops, then float32 against the same; the
  // float32 gradients against the float64 ones (checked against central differences above).
  const auto [out64, grads64] = forward_backward(row, convert_args(args64, Device::cpu(), DType::Float64), g);
  const Args args32 = convert_args(args64, Device::cpu(), DType::Float32);
  // The reference sees the float32 inputs' values, so that only the op's arithmetic differs.
  const Args rounded = convert_args(args32, Device::cpu(), DType::Float64);
  const auto [out32, grads32] = forward_backward(row, args32, g);
  if (row.reference) {
    const std::vector<double> want64 = row.reference(args64), want32 = row.reference(rounded);
    // from_vector's shape {} means "[n]": reshape, so that a 0-d result compares as one.
    compare(row.name + ": float64 forward vs reference", out64, Tensor::from_vector(want64).reshape(out64.shape()),
            {1e-12, 1e-12});
    compare(row.name + ": float32 forward vs reference", out32, Tensor::from_vector(want32).reshape(out32.shape()),
            row.float32);
  } else {
    compare(row.name + ": float32 forward vs float64", out32, out64, row.float32);
  }
  for (std::size_t i = 0; i < args64.size(); ++i)
    if (grads64[i].defined())
      compare(row.name + ": float32 gradient of argument " + std::to_string(i) + " vs float64", grads32[i], grads64[i],
              row.float32);
}

void run_cuda(const OpRow& row) {
  if (no_gpu()) return;
  const Args args64 = make_args(row, 4);
  const Args cpu32 = convert_args(args64, Device::cpu(), DType::Float32);
  const Args gpu32 = convert_args(args64, Device::cuda(0), DType::Float32);
  const Tensor g = upstream_gradient(row.op(convert_args(args64, Device::cpu(), DType::Float64)), 5);
  const auto [out_cpu, grads_cpu] = forward_backward(row, cpu32, g);
  const auto [out_gpu, grads_gpu] = forward_backward(row, gpu32, g);
  CHECK(out_gpu.device().is_cuda());
  compare(row.name + ": CUDA forward vs CPU", out_gpu, out_cpu, row.cuda);
  for (std::size_t i = 0; i < args64.size(); ++i)
    if (grads_cpu[i].defined())
      compare(row.name + ": CUDA gradient of argument " + std::to_string(i) + " vs CPU", grads_gpu[i], grads_cpu[i],
              row.cuda);
}

std::set<std::string>& names() {
  static std::set<std::string> n;
  return n;
}

}  // namespace

Args make_args(const OpRow& row, std::uint64_t seed) {
  Generator gen(seed * 7919 + std::hash<std::string>{}(row.name));
  Args args;
  for (const Arg& a : row.args) {
    if (a.classes < 0) {  // none()
      args.emplace_back();
      continue;
    }
    args.push_back(draw(a, gen));
  }
  if (row.prepare) row.prepare(args);
  for (std::size_t i = 0; i < args.size(); ++i)
    if (args[i].defined() && row.args[i].requires_grad) args[i].requires_grad_();
  return args;
}

Args convert_args(const Args& args, Device device, DType dtype) {
  Args out;
  for (const Tensor& a : args) {
    if (!a.defined()) {
      out.emplace_back();
      continue;
    }
    Tensor t = a.detach().clone();  // never shared: ops like batch_norm update arguments in place
    if (t.dtype() != DType::Int64) t = t.to(dtype);
    t = t.to(device);
    if (a.requires_grad()) t.requires_grad_();
    out.push_back(t);
  }
  return out;
}

void add_op_row(OpRow row) {
  if (!names().insert(row.name).second) {
    std::fprintf(stderr, "op table: the name \"%s\" is used twice\n", row.name.c_str());
    std::abort();
  }
  const auto shared = std::make_shared<const OpRow>(std::move(row));
  const std::string& n = shared->name;
  if (shared->run_gradcheck)
    register_test("op " + n + ": gradient (float64)", "[op][gradcheck]", [shared] { run_gradcheck(*shared); }, __FILE__,
                  __LINE__);
  register_test("op " + n + ": against the reference", "[op][reference]", [shared] { run_reference(*shared); },
                __FILE__, __LINE__);
  register_test("op " + n + ": CUDA against the CPU", "[op][cuda]", [shared] { run_cuda(*shared); }, __FILE__, __LINE__);
}

}  // namespace minidl::test
