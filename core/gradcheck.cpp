#include "minidl/core/gradcheck.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "minidl/base/error.h"
#include "minidl/core/autograd.h"
#include "minidl/core/rng.h"

namespace minidl {

namespace {

double dot(const Tensor& a, const Tensor& b) {
  MINIDL_CHECK(a.shape() == b.shape() && a.dtype() == DType::Float64 && a.device().is_cpu(),
               "gradcheck: the function must return a float64 CPU tensor of the same shape every call, got ", a.str(),
               " after ", b.str());
  const double* x = a.data<double>();
  const double* y = b.data<double>();
  double s = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) s += x[i] * y[i];
  return s;
}

// Resets the fresh-buffer fill when a check ends, however it ends.
struct FreshFillScope {
  explicit FreshFillScope(double v) { set_fresh_grad_fill(v); }
  ~FreshFillScope() { set_fresh_grad_fill(std::numeric_limits<double>::quiet_NaN()); }
};

bool checked(const Tensor& x) { return x.defined() && x.requires_grad(); }

template <typename... A>
GradcheckResult failure(const GradcheckOptions& opt, double worst, const A&... what) {
  std::ostringstream s;
  s << "gradcheck: ";
  (s << ... << what);
  if (opt.raise_exception) throw Error(s.str());
  return {false, s.str(), worst};
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, std::vector<Tensor> inputs, const GradcheckOptions& opt) {
  bool any = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!checked(inputs[i])) continue;  // indices and constants may be anything
    // float32 central differences measure rounding, not the derivative: torch refuses them too.
    MINIDL_CHECK(inputs[i].dtype() == DType::Float64 && inputs[i].device().is_cpu(), "gradcheck: input ", i,
                 " requires grad, so it must be a float64 CPU tensor, got ", inputs[i].str(),
                 " (convert with .to(DType::Float64))");
    any = true;
  }
  MINIDL_CHECK(any, "gradcheck: no input requires grad (call requires_grad_() on those to check)");
  Generator gen(opt.seed);
  Tensor probe;
  {
    NoGradGuard no_grad;
    probe = f(inputs);
  }
  MINIDL_CHECK(probe.defined() && probe.dtype() == DType::Float64,
               "gradcheck: the function must return a float64 tensor, got ", probe.defined() ? probe.str() : "undefined");
  const Tensor G = Tensor::randn(probe.shape(), gen, DType::Float64);

  // Pass 1: fresh gradients, buffers pre-filled with +inf.
  std::vector<Tensor> analytic(inputs.size());
  {
    FreshFillScope fill(std::numeric_limits<double>::infinity());
    for (auto& x : inputs)
      if (checked(x)) x.set_grad(Tensor());
    f(inputs).backward(G);
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (!checked(inputs[i])) continue;
      if (!inputs[i].grad().defined())
        return failure(opt, 0.0, "input ", i, " ", inputs[i].str(), " got no gradient (is it connected to the output?)");
      analytic[i] = inputs[i].grad().clone();
      const double* g = analytic[i].data<double>();
      for (std::int64_t j = 0; j < analytic[i].numel(); ++j)
        if (!std::isfinite(g[j]))
          return failure(opt, 0.0, "input ", i, " ", inputs[i].str(), " element ", j, ": the gradient is ", g[j],
                         " (fresh buffers are filled with +inf: a backward that leaves part unwritten shows here)");
    }
  }

  // Central differences.
  double worst = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!checked(inputs[i])) continue;
    double* x = inputs[i].data<double>();
    const double* a = analytic[i].data<double>();
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j) {
      const double saved = x[j];
      double fp, fm;
      {
        NoGradGuard no_grad;
        x[j] = saved + opt.eps;
        fp = dot(f(inputs), G);
        x[j] = saved - opt.eps;
        fm = dot(f(inputs), G);
      }
      x[j] = saved;
      const double numeric = (fp - fm) / (2 * opt.eps);
      const double tol = opt.atol + opt.rtol * std::abs(numeric);
      const double err = std::abs(a[j] - numeric);
      if (!(err <= tol))
        return failure(opt, err / tol, "input ", i, " ", inputs[i].str(), " element ", j, ": analytic ", a[j],
                       " numeric ", numeric, " (|difference| ", err, " > tolerance ", tol, ")");
      worst = std::max(worst, err / tol);
    }
  }

  // Pass 2: backward accumulates into existing gradients.
  std::vector<Tensor> prior(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!checked(inputs[i])) continue;
    prior[i] = Tensor::randn(inputs[i].shape(), gen, DType::Float64);
    inputs[i].set_grad(prior[i].clone());
  }
  f(inputs).backward(G);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!checked(inputs[i])) continue;
    const double* g = inputs[i].grad().data<double>();
    const double* p = prior[i].data<double>();
    const double* a = analytic[i].data<double>();
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j) {
      const double want = p[j] + a[j];
      if (!(std::abs(g[j] - want) <= 1e-12 + 1e-12 * std::abs(want)))
        return failure(opt, worst, "input ", i, " element ", j, ": with an existing gradient ", p[j],
                       " backward left ", g[j], ", expected their sum ", want,
                       " (a backward that overwrites instead of adding shows here)");
    }
    inputs[i].set_grad(Tensor());
  }
  return {true, "", worst};
}

}  // namespace minidl
