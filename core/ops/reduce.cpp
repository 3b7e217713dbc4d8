// sum and mean over all elements and over chosen dimensions; max, min, argmax over a dimension.
#include <algorithm>
#include <tuple>

#include "minidl/core/ops/dispatch.h"
#include "minidl/core/ops/layout.h"
#include "minidl/kernels/elementwise.h"
#include "minidl/kernels/reduce_dim.h"

namespace minidl {

using namespace ops_detail;

namespace {

// d(alpha * sum(x)) / dx = alpha everywhere: a broadcast of the upstream scalar, read where it
// lies (on a GPU, without a trip to the host).
class SumBackward : public Node {
 public:
  SumBackward(double alpha, const char* name) : alpha_(alpha), name_(name) {}
  const char* name() const override { return name_; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    GradSlot& slot = gin[0];
    if (!slot.needed) return;
    dispatch("sum backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      fill_from_scalar(s, slot.grad.numel(), gout.data<T>(), alpha_, slot.grad.data<T>(), slot.accumulate);
    });
  }

 private:
  double alpha_;
  const char* name_;
};

Tensor reduce(const Tensor& x, bool mean, const char* op) {
  check_float(x, op, "input");
  const double alpha = mean ? 1.0 / static_cast<double>(x.numel() ? x.numel() : 1) : 1.0;
  Tensor y = Tensor::empty({}, x.dtype(), x.device());
  dispatch(op, x, [&](auto s, auto tag) {
    using T = decltype(tag);
    sum(s, x.numel(), x.data<T>(), alpha, y.data<T>());
  });
  return record(y, std::make_shared<SumBackward>(alpha, mean ? "MeanBackward" : "SumBackward"), {x});
}

}  // namespace

Tensor sum(const Tensor& x) { return reduce(x, false, "sum"); }
Tensor mean(const Tensor& x) { return reduce(x, true, "mean"); }

}  // namespace minidl

// ----- over chosen dimensions -----
namespace minidl {

using namespace ops_detail;

namespace {

// Which dims a reduction covers: all when dims is empty (torch's dim=None).
std::vector<bool> reduced_dims(const Tensor& x, const std::vector<std::int64_t>& dims, const char* op) {
  std::vector<bool> r(x.dim(), dims.empty());
  for (auto d : dims) {
    const std::int64_t w = wrap_dim(d, x.dim(), op);
    MINIDL_CHECK(!r[w] || x.dim() == 0, op, ": dim ", d, " given twice");
    if (x.dim() > 0) r[w] = true;
  }
  return r;
}

Shape reduced_shape(const Shape& s, const std::vector<bool>& r, bool keepdim) {
  Shape out;
  for (std::size_t d = 0; d < s.size(); ++d)
    if (!r[d]) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  return out;
}

// The gradient of alpha * sum over dims: gout broadcast back to the input's shape.
class SumDimBackward : public Node {
 public:
  SumDimBackward(Shape kept, double alpha, const char* name) : kept_(std::move(kept)), alpha_(alpha), name_(name) {}
  const char* name() const override { return name_; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    GradSlot& slot = gin[0];
    if (!slot.needed) return;
    Tensor g = expand(gout.reshape(kept_), inputs[0].shape());
    if (alpha_ != 1.0) g = mul(g, alpha_);
    if (slot.accumulate) add_(slot.grad, g);
    else slot.grad.copy_(g);
  }

 private:
  Shape kept_;  // the output's shape with the reduced dims kept as 1
  double alpha_;
  const char* name_;
};

Tensor reduce_dims(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim, bool mean, const char* op) {
  check_float(x, op, "input");
  const std::vector<bool> r = reduced_dims(x, dims, op);
  const Shape kept = reduced_shape(x.shape(), r, true);
  const Shape out = reduced_shape(x.shape(), r, keepdim);
  const std::int64_t count = x.numel() / std::max<std::int64_t>(numel_of(kept), 1);
  const double alpha = mean ? 1.0 / static_cast<double>(std::max<std::int64_t>(count, 1)) : 1.0;
  Tensor y = Tensor::empty(out, x.dtype(), x.device());
  if (x.dim() == 0) {
    y.copy_(x);
  } else {
    sum_to_into(x, kept, y, false, alpha);
  }
  return record(y, std::make_shared<SumDimBackward>(kept, alpha, mean ? "MeanBackward" : "SumBackward"), {x});
}

class MaxDimBackward : public Node {
 public:
  MaxDimBackward(kernels::DimGeometry g, Tensor indices) : g_(g), indices_(std::move(indices)) {}
  const char* name() const override { return "MaxBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    GradSlot& slot = gin[0];
    if (!slot.needed) return;
    dispatch("max backward", gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      max_dim_backward(s, g_, gout.data<T>(), indices_.data<std::int64_t>(), slot.grad.data<T>(), slot.accumulate);
    });
  }

 private:
  kernels::DimGeometry g_;
  Tensor indices_;
};

kernels::DimGeometry dim_geometry(const Shape& s, std::int64_t d) {
  kernels::DimGeometry g{1, s.empty() ? 1 : s[d], 1};
  for (std::int64_t i = 0; i < d; ++i) g.outer *= s[i];
  for (std::size_t i = d + 1; i < s.size(); ++i) g.inner *= s[i];
  return g;
}

std::tuple<Tensor, Tensor> max_min(const Tensor& x, std::int64_t dim, bool keepdim, bool is_min, bool want_values,
                                   const char* op) {
  check_float(x, op, "input");
  const std::int64_t d = wrap_dim(dim, x.dim(), op);
  const kernels::DimGeometry g = dim_geometry(x.shape(), d);
  MINIDL_CHECK(g.n > 0, op, ": dimension ", dim, " of ", shape_str(x.shape()), " is empty");
  Shape out = x.shape();
  if (!out.empty()) {
    if (keepdim) out[d] = 1;
    else out.erase(out.begin() + d);
  }
  Tensor values = want_values ? Tensor::empty(out, x.dtype(), x.device()) : Tensor();
  Tensor indices = Tensor::empty(out, DType::Int64, x.device());
  dispatch(op, x, [&](auto s, auto tag) {
    using T = decltype(tag);
    max_dim_forward(s, g, is_min, x.data<T>(), ptr<T>(values), indices.data<std::int64_t>());
  });
  if (want_values) values = record(values, std::make_shared<MaxDimBackward>(g, indices), {x});
  return {values, indices};
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce_dims(x, dims, keepdim, false, "sum");
}
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce_dims(x, dims, keepdim, true, "mean");
}
Tensor sum(const Tensor& x, std::int64_t dim, bool keepdim) { return sum(x, std::vector<std::int64_t>{dim}, keepdim); }
Tensor mean(const Tensor& x, std::int64_t dim, bool keepdim) { return mean(x, std::vector<std::int64_t>{dim}, keepdim); }

std::tuple<Tensor, Tensor> max(const Tensor& x, std::int64_t dim, bool keepdim) {
  return max_min(x, dim, keepdim, false, true, "max");
}
std::tuple<Tensor, Tensor> min(const Tensor& x, std::int64_t dim, bool keepdim) {
  return max_min(x, dim, keepdim, true, true, "min");
}
Tensor max(const Tensor& x) { return std::get<0>(max(x.reshape({-1}), 0, false)); }
Tensor min(const Tensor& x) { return std::get<0>(min(x.reshape({-1}), 0, false)); }
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) {
  return std::get<1>(max_min(x, dim, keepdim, false, false, "argmax"));
}
Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim) {
  return std::get<1>(max_min(x, dim, keepdim, true, false, "argmin"));
}

}  // namespace minidl
