// The op table's rows (op_table.h) for the elementwise ops with torch's names: the one-input
// maps, the two-input ops with broadcasting and their scalar forms, where and dropout. The
// references are the formulas of PyTorch's documentation, element by element.
#include <cmath>

#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "op_table.h"
#include "reference_nd.h"
#include "reference_ops.h"

namespace minidl::test {
namespace {

namespace ref = reference;
using F = Fill;

void unary(const std::string& name, F fill, Tensor (*op)(const Tensor&), double (*f)(double)) {
  add_op_row(row(name, {in({3, 4, 2}, fill)}, [op](const Args& a) { return op(a[0]); },
                 [f](const Args& a) { return ref::map(a[0], f); }));
}

MINIDL_OP_ROWS(unary) {
  unary("neg", F::Normal, [](const Tensor& x) { return neg(x); }, [](double v) { return -v; });
  unary("exp", F::Normal, [](const Tensor& x) { return exp(x); }, [](double v) { return std::exp(v); });
  unary("log", F::Positive, [](const Tensor& x) { return log(x); }, [](double v) { return std::log(v); });
  unary("sqrt", F::Positive, [](const Tensor& x) { return sqrt(x); }, [](double v) { return std::sqrt(v); });
  unary("abs", F::AwayFromZero, [](const Tensor& x) { return abs(x); }, [](double v) { return std::fabs(v); });
  unary("sigmoid", F::Normal, [](const Tensor& x) { return sigmoid(x); },
        [](double v) { return 1 / (1 + std::exp(-v)); });
  unary("tanh", F::Normal, [](const Tensor& x) { return tanh(x); }, [](double v) { return std::tanh(v); });
  // torch's default gelu: x * Phi(x), the exact form (approximate='none').
  unary("gelu", F::Normal, [](const Tensor& x) { return gelu(x); },
        [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
  unary("silu", F::Normal, [](const Tensor& x) { return silu(x); }, [](double v) { return v / (1 + std::exp(-v)); });
  unary("pow 2.5", F::Positive, [](const Tensor& x) { return pow(x, 2.5); }, [](double v) { return std::pow(v, 2.5); });
  unary("pow -1", F::Positive, [](const Tensor& x) { return pow(x, -1.0); }, [](double v) { return 1 / v; });
  unary("pow 3 of any sign", F::Normal, [](const Tensor& x) { return pow(x, 3.0); },
        [](double v) { return v * v * v; });
  unary("clamp min and max", F::Normal, [](const Tensor& x) { return clamp(x, -0.5, 0.6); },
        [](double v) { return std::min(0.6, std::max(-0.5, v)); });
  unary("clamp min", F::Normal, [](const Tensor& x) { return clamp(x, 0.1); },
        [](double v) { return std::max(0.1, v); });
  unary("clamp max", F::Normal, [](const Tensor& x) { return clamp(x, std::nullopt, 0.1); },
        [](double v) { return std::min(0.1, v); });
  // With a scalar, and the operators (the scalar forms are other kernels than the tensor ones).
  unary("x + 2", F::Normal, [](const Tensor& x) { return x + 2.0; }, [](double v) { return v + 2; });
  unary("2 - x", F::Normal, [](const Tensor& x) { return 2.0 - x; }, [](double v) { return 2 - v; });
  unary("x - 2", F::Normal, [](const Tensor& x) { return x - 2.0; }, [](double v) { return v - 2; });
  unary("x / 4", F::Normal, [](const Tensor& x) { return x / 4.0; }, [](double v) { return v / 4; });
  unary("4 / x", F::Positive, [](const Tensor& x) { return 4.0 / x; }, [](double v) { return 4 / v; });
  unary("-x", F::Normal, [](const Tensor& x) { return -x; }, [](double v) { return -v; });
}

// Two inputs: same shapes, each side broadcast, a 0-d operand, and a broadcast in both.
MINIDL_OP_ROWS(binary) {
  struct Op {
    std::string name;
    Tensor (*op)(const Tensor&, const Tensor&);
    double (*f)(double, double);
    F a, b;  // div: positive divisors; pow: positive bases
  };
  const std::vector<Op> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return a + b; }, [](double u, double v) { return u + v; },
       F::Normal, F::Normal},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }, [](double u, double v) { return u - v; },
       F::Normal, F::Normal},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }, [](double u, double v) { return u * v; },
       F::Normal, F::Normal},
      {"div", [](const Tensor& a, const Tensor& b) { return a / b; }, [](double u, double v) { return u / v; },
       F::Normal, F::Positive},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); },
       [](double u, double v) { return std::pow(u, v); }, F::Positive, F::Normal}};
  for (const Op& o : ops)
    for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{
             {{2, 3}, {2, 3}}, {{2, 1, 3}, {4, 1}}, {{3}, {2, 3}}, {{2, 3}, {}}, {{1}, {3, 1, 2}}}) {
      // The add row of same shapes is op_rows.cpp's "add" (the BasicBlock's kernel).
      const std::string name = o.name + " " + shape_str(sa) + " " + shape_str(sb);
      add_op_row(row(name, {in(sa, o.a), in(sb, o.b)}, [op = o.op](const Args& a) { return op(a[0], a[1]); },
                     [f = o.f](const Args& a) { return ref::broadcast2(a[0], a[1], f); }));
    }
  add_op_row(row("mul of a tensor with itself", {in({4})}, [](const Args& a) { return a[0] * a[0]; },
                 [](const Args& a) { return ref::map(a[0], [](double v) { return v * v; }); }));
  // Comparisons: 0/1 masks with no gradient (the gradient column has nothing to check).
  OpRow gt_row = row("gt [2, 1, 3] [4, 1]", {constant({2, 1, 3}), constant({4, 1})},
                     [](const Args& a) { return gt(a[0], a[1]); },
                     [](const Args& a) { return ref::broadcast2(a[0], a[1], [](double u, double v) { return u > v ? 1.0 : 0.0; }); });
  gt_row.run_gradcheck = false;
  add_op_row(std::move(gt_row));
}

MINIDL_OP_ROWS(where) {
  OpRow r = row("where, the condition and both sides broadcast", {constant({3, 1}), in({3, 4}), in({4})},
                [](const Args& a) { return where(a[0], a[1], a[2]); },
                [](const Args& a) { return ref::where(a[0], a[1], a[2]); });
  r.prepare = [](Args& a) {  // a mask of 0 and 1, as gt() makes
    double* c = a[0].data<double>();
    for (std::int64_t i = 0; i < a[0].numel(); ++i) c[i] = c[i] > 0 ? 1.0 : 0.0;
  };
  add_op_row(std::move(r));
}

// dropout with its own generator, seeded in the call, is a fixed function of x: the same mask on
// every call (the gradient check's perturbed calls too) and on both devices (the mask hashes one
// draw per element, on the CPU and on a GPU alike). No reference: which elements are dropped is
// the hash's choice; the keep rate and the 1/(1-p) scale are checked in test_ops_torch.cpp.
MINIDL_OP_ROWS(dropout) {
  add_op_row(row("dropout p=0.3 (a seeded generator)", {in({4, 5, 3})}, [](const Args& a) {
    Generator g(5);
    return dropout(a[0], 0.3, true, &g);
  }));
}

}  // namespace
}  // namespace minidl::test
