// The elementwise ops with torch's names: one-input maps, two-input ops with broadcasting and
// their scalar forms, the comparisons, where and dropout (kernels/pointwise.h).
//
// Broadcasting expands each input to the output's shape first (expand, whose backward sums the
// gradient back to the input's shape), so the kernels only ever see equal shapes. That costs a
// copy of a broadcast input; inputs of equal shapes take no copy.
#include <limits>

#include "minidl/core/ops/dispatch.h"
#include "minidl/core/ops/layout.h"
#include "minidl/core/rng.h"
#include "minidl/kernels/pointwise.h"

namespace minidl {

using namespace ops_detail;
using kernels::Binary;
using kernels::Unary;
using kernels::UnaryOp;

namespace {

class UnaryBackward : public Node {
 public:
  UnaryBackward(UnaryOp op, Tensor y, const char* name) : op_(op), y_(std::move(y)), name_(name) {}
  const char* name() const override { return name_; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    GradSlot& slot = gin[0];
    if (!slot.needed) return;
    const Tensor& x = inputs[0];
    dispatch(name_, gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      unary_backward(s, gout.numel(), op_, gout.data<T>(), x.data<T>(), y_.data<T>(), slot.grad.data<T>(),
                     slot.accumulate);
    });
  }

 private:
  UnaryOp op_;
  Tensor y_;  // detached output
  const char* name_;
};

Tensor unary(const Tensor& x, UnaryOp op, const char* name, const char* backward_name) {
  check_float(x, name, "input");
  Tensor y = Tensor::empty_like(x);
  dispatch(name, x, [&](auto s, auto tag) {
    using T = decltype(tag);
    unary_forward(s, x.numel(), op, x.data<T>(), y.data<T>());
  });
  return record(y, std::make_shared<UnaryBackward>(op, y.detach(), backward_name), {x});
}

// Same-shape backward: the kernel writes each needed input's gradient in one pass.
class BinaryBackward : public Node {
 public:
  BinaryBackward(Binary op, Tensor y, const char* name) : op_(op), y_(std::move(y)), name_(name) {}
  const char* name() const override { return name_; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    const Tensor &a = inputs[0], &b = inputs[1];
    dispatch(name_, gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      binary_backward(s, gout.numel(), op_, gout.data<T>(), a.data<T>(), b.data<T>(), y_.data<T>(),
                      grad_ptr<T>(gin[0]), gin[0].accumulate,
                      grad_ptr<T>(gin[1]), gin[1].accumulate);
    });
  }

 private:
  Binary op_;
  Tensor y_;
  const char* name_;
};

void check_pair(const char* op, const Tensor& a, const Tensor& b) {
  check_float(a, op, "first input");
  check_float(b, op, "second input");
  check_same_device(op, {&a, &b});
  check_same_dtype(op, {&a, &b});
}

Tensor binary(const Tensor& a0, const Tensor& b0, Binary op, const char* name, const char* backward_name) {
  check_pair(name, a0, b0);
  const Shape out = broadcast_shapes(a0.shape(), b0.shape(), name);
  const Tensor a = expand(a0, out), b = expand(b0, out);
  Tensor y = Tensor::empty(out, a.dtype(), a.device());
  dispatch(name, a, [&](auto s, auto tag) {
    using T = decltype(tag);
    binary_forward(s, y.numel(), op, a.data<T>(), b.data<T>(), y.data<T>());
  });
  const bool compare = op >= Binary::Gt;
  if (compare) return y;  // 0/1 masks carry no gradient, as torch's bool results
  return record(y, std::make_shared<BinaryBackward>(op, y.detach(), backward_name), {a, b});
}

class WhereBackward : public Node {
 public:
  explicit WhereBackward(Tensor cond) : cond_(std::move(cond)) {}
  const char* name() const override { return "WhereBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    dispatch("where backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      where_backward(s, gout.numel(), cond_.data<T>(), gout.data<T>(),
                     grad_ptr<T>(gin[0]), gin[0].accumulate,
                     grad_ptr<T>(gin[1]), gin[1].accumulate);
    });
  }

 private:
  Tensor cond_;
};

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

// ----- one input -----
Tensor neg(const Tensor& x) { return unary(x, {Unary::Neg}, "neg", "NegBackward"); }
Tensor exp(const Tensor& x) { return unary(x, {Unary::Exp}, "exp", "ExpBackward"); }
Tensor log(const Tensor& x) { return unary(x, {Unary::Log}, "log", "LogBackward"); }
Tensor sqrt(const Tensor& x) { return unary(x, {Unary::Sqrt}, "sqrt", "SqrtBackward"); }
Tensor abs(const Tensor& x) { return unary(x, {Unary::Abs}, "abs", "AbsBackward"); }
Tensor sigmoid(const Tensor& x) { return unary(x, {Unary::Sigmoid}, "sigmoid", "SigmoidBackward"); }
Tensor tanh(const Tensor& x) { return unary(x, {Unary::Tanh}, "tanh", "TanhBackward"); }
Tensor gelu(const Tensor& x) { return unary(x, {Unary::Gelu}, "gelu", "GeluBackward"); }
Tensor silu(const Tensor& x) { return unary(x, {Unary::Silu}, "silu", "SiluBackward"); }
Tensor pow(const Tensor& x, double exponent) { return unary(x, {Unary::Pow, exponent}, "pow", "PowBackward"); }
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  MINIDL_CHECK(min || max, "clamp: at least one of min and max must be given");
  return unary(x, {Unary::Clamp, min ? *min : -kInf, max ? *max : kInf}, "clamp", "ClampBackward");
}

// ----- two inputs, with broadcasting -----
Tensor add(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Add, "add", "AddBackward"); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Sub, "sub", "SubBackward"); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Mul, "mul", "MulBackward"); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Div, "div", "DivBackward"); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Pow, "pow", "PowBackward"); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Gt, "gt", ""); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Lt, "lt", ""); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Ge, "ge", ""); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Le, "le", ""); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Eq, "eq", ""); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(a, b, Binary::Ne, "ne", ""); }

// ----- with a scalar -----
Tensor add(const Tensor& x, double c) { return unary(x, {Unary::Affine, 1.0, c}, "add", "AddBackward"); }
Tensor sub(const Tensor& x, double c) { return unary(x, {Unary::Affine, 1.0, -c}, "sub", "SubBackward"); }
Tensor sub(double c, const Tensor& x) { return unary(x, {Unary::Affine, -1.0, c}, "rsub", "RsubBackward"); }
Tensor div(const Tensor& x, double c) { return mul(x, 1.0 / c); }
Tensor div(double c, const Tensor& x) { return unary(x, {Unary::Rdiv, c}, "div", "DivBackward"); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& x, double c) { return add(x, c); }
Tensor operator+(double c, const Tensor& x) { return add(x, c); }
Tensor operator-(const Tensor& x, double c) { return sub(x, c); }
Tensor operator-(double c, const Tensor& x) { return sub(c, x); }
Tensor operator*(const Tensor& x, double c) { return mul(x, c); }
Tensor operator*(double c, const Tensor& x) { return mul(x, c); }
Tensor operator/(const Tensor& x, double c) { return div(x, c); }
Tensor operator/(double c, const Tensor& x) { return div(c, x); }

Tensor where(const Tensor& cond0, const Tensor& a0, const Tensor& b0) {
  check_pair("where", a0, b0);
  MINIDL_CHECK(cond0.defined() && cond0.dtype() == a0.dtype() && cond0.device() == a0.device(),
               "where: the condition must be a mask of the inputs' dtype and device (nonzero = true, as gt() "
               "makes), got ", cond0.defined() ? cond0.str() : std::string("undefined"), " for ", a0.str());
  const Shape out = broadcast_shapes(broadcast_shapes(cond0.shape(), a0.shape(), "where"), b0.shape(), "where");
  Tensor cond;
  {
    NoGradGuard no_grad;  // the mask is not differentiated
    cond = expand(cond0, out);
  }
  const Tensor a = expand(a0, out), b = expand(b0, out);
  Tensor y = Tensor::empty(out, a.dtype(), a.device());
  dispatch("where", a, [&](auto s, auto tag) {
    using T = decltype(tag);
    where_forward(s, y.numel(), cond.data<T>(), a.data<T>(), b.data<T>(), y.data<T>());
  });
  return record(y, std::make_shared<WhereBackward>(cond), {a, b});
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  check_float(x, "dropout", "input");
  MINIDL_CHECK(p >= 0 && p <= 1, "dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0) return x;
  if (p == 1) return mul(x, 0.0);
  // One draw from the generator per call seeds the mask's hash: the same seed gives the same
  // mask on the CPU and on a GPU, and nothing is read back from the device.
  const std::uint64_t seed = (gen ? *gen : default_generator()).next_u64();
  Tensor mask = Tensor::empty_like(x);
  dispatch("dropout", x, [&](auto s, auto tag) {
    using T = decltype(tag);
    dropout_mask(s, x.numel(), 1.0 - p, seed, mask.data<T>());
  });
  return mul(x, mask);
}

}  // namespace minidl
