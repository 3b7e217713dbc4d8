// index_select and gather (kernels/indexing.h). Bad indices are found by the kernel and reported
// through IndexCheck: at once on the CPU, at the next synchronisation on a GPU.
#include "minidl/core/ops/device_check.h"
#include "minidl/core/ops/dispatch.h"
#include "minidl/core/ops/layout.h"
#include "minidl/kernels/indexing.h"

namespace minidl {

using namespace ops_detail;

namespace {

kernels::IndexGeometry geometry(const Shape& s, std::int64_t d, std::int64_t k) {
  kernels::IndexGeometry g{1, s.empty() ? 1 : s[d], 1, k};
  for (std::int64_t i = 0; i < d; ++i) g.outer *= s[i];
  for (std::size_t i = d + 1; i < s.size(); ++i) g.inner *= s[i];
  return g;
}

void check_index(const Tensor& x, const Tensor& index, const char* op) {
  check_float(x, op, "input");
  MINIDL_CHECK(index.defined() && index.dtype() == DType::Int64, op, ": the index must be an int64 tensor, got ",
               index.defined() ? index.str() : std::string("undefined"));
  check_same_device(op, {&x, &index});
}

class IndexBackward : public Node {
 public:
  IndexBackward(kernels::IndexGeometry g, Tensor index, bool gather) : g_(g), index_(std::move(index)), gather_(gather) {}
  const char* name() const override { return gather_ ? "GatherBackward" : "IndexSelectBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    GradSlot& slot = gin[0];
    if (!slot.needed) return;
    dispatch(name(), gout, [&](auto s, auto tag) {
      using T = decltype(tag);
      if (gather_)
        gather_backward(s, g_, gout.data<T>(), index_.data<std::int64_t>(), slot.grad.data<T>(), slot.accumulate);
      else
        index_select_backward(s, g_, gout.data<T>(), index_.data<std::int64_t>(), slot.grad.data<T>(),
                              slot.accumulate);
    });
  }

 private:
  kernels::IndexGeometry g_;
  Tensor index_;
  bool gather_;
};

// index_select's or gather's forward into a new tensor of shape `out`: the kernel, the index
// check and the backward, which differ only in how the index is read.
Tensor index_forward(const char* op, const Tensor& x, const Tensor& index, const kernels::IndexGeometry& g,
                     const Shape& out, bool gather) {
  Tensor y = Tensor::empty(out, x.dtype(), x.device());
  IndexCheck bad(index, op, "index", "entries of the dimension", g.n);
  dispatch(op, x, [&](auto s, auto tag) {
    using T = decltype(tag);
    if (gather) gather_forward(s, g, x.data<T>(), index.data<std::int64_t>(), y.data<T>(), bad.slot());
    else index_select_forward(s, g, x.data<T>(), index.data<std::int64_t>(), y.data<T>(), bad.slot());
  });
  bad.done();
  return record(y, std::make_shared<IndexBackward>(g, index, gather), {x});
}

}  // namespace

Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index) {
  check_index(x, index, "index_select");
  MINIDL_CHECK(index.dim() <= 1, "index_select: the index must be 1-d, got ", shape_str(index.shape()));
  const std::int64_t d = wrap_dim(dim, x.dim(), "index_select");
  const kernels::IndexGeometry g = geometry(x.shape(), d, index.numel());
  Shape out = x.shape();
  if (!out.empty()) out[d] = index.numel();
  return index_forward("index_select", x, index, g, out, false);
}

Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index) {
  check_index(x, index, "gather");
  const std::int64_t d = wrap_dim(dim, x.dim(), "gather");
  bool ok = index.dim() == x.dim();
  for (std::int64_t i = 0; ok && i < x.dim(); ++i) ok = i == d || index.shape()[i] == x.shape()[i];
  MINIDL_CHECK(ok, "gather: the index ", shape_str(index.shape()), " must have the shape of the input ",
               shape_str(x.shape()), " except in dimension ", d, " (a smaller index in other dimensions is not "
               "supported)");
  const kernels::IndexGeometry g = geometry(x.shape(), d, x.dim() ? index.shape()[d] : 1);
  return index_forward("gather", x, index, g, index.shape(), true);
}

}  // namespace minidl
