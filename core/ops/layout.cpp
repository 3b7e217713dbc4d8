// Ops that move elements without arithmetic: expand (broadcast_to), permute, transpose,
// unsqueeze, squeeze, narrow, select, cat and stack, all differentiable, all through one strided
// copy kernel (kernels/indexing.h). Tensors are always contiguous here, so each op that changes
// the order of elements returns a copy, as torch's .contiguous() would.
#include "minidl/core/ops/layout.h"

#include <algorithm>
#include <numeric>

#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/elementwise.h"
#include "minidl/kernels/indexing.h"
#include "minidl/kernels/reduce_dim.h"

namespace minidl {

using namespace ops_detail;

namespace ops_detail {

std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, const char* op) {
  const std::int64_t r = std::max<std::int64_t>(rank, 1);
  MINIDL_CHECK(dim >= -r && dim < r, op, ": dim ", dim, " is out of range for a tensor with ", rank,
               " dimensions (expected ", -r, " .. ", r - 1, ")");
  return dim < 0 ? dim + r : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    MINIDL_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
                 " do not broadcast (dimension ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {
Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

void check_rank(std::size_t rank, const char* op) {
  MINIDL_CHECK(rank <= static_cast<std::size_t>(kernels::kMaxDims), op, ": at most ", kernels::kMaxDims,
               " dimensions are supported, got ", rank);
}

// dst (+)= src through strides; shape is the walk, both strides in elements.
void strided(const Tensor& src, std::int64_t src_offset, const Shape& shape, const Shape& src_stride,
             const Tensor& dst, std::int64_t dst_offset, const Shape& dst_stride, bool accumulate, const char* op) {
  check_rank(shape.size(), op);
  kernels::StridedCopy g;
  g.rank = static_cast<int>(shape.size());
  for (std::size_t d = 0; d < shape.size(); ++d) {
    g.shape[d] = shape[d];
    g.src_stride[d] = src_stride[d];
    g.dst_stride[d] = dst_stride[d];
  }
  dispatch<CpuAll, Types<float, std::int64_t>>(op, src, [&](auto s, auto tag) {
    using T = decltype(tag);
    strided_copy(s, g, src.data<T>() + src_offset, dst.data<T>() + dst_offset, accumulate);
  });
}
}  // namespace

void sum_to_into(const Tensor& src, const Shape& shape, const Tensor& dst, bool accumulate, double alpha) {
  const Shape& s = src.shape();
  check_rank(s.size(), "sum_to");
  const Shape st = contiguous_strides(s);
  kernels::ReduceGeometry g;
  g.rank = static_cast<int>(s.size());
  const std::size_t lead = s.size() - shape.size();
  for (std::size_t d = 0; d < s.size(); ++d) {
    const bool reduce = d < lead || (shape[d - lead] == 1 && s[d] != 1);
    g.kept[d] = reduce ? 1 : s[d];
    g.reduced[d] = reduce ? s[d] : 1;
    g.stride[d] = st[d];
  }
  dispatch("sum_to", src, [&](auto st_, auto tag) {
    using T = decltype(tag);
    reduce_sum(st_, g, alpha, src.data<T>(), dst.data<T>(), accumulate);
  });
}

}  // namespace ops_detail

namespace {

bool differentiable(const Tensor& t) { return is_floating(t.dtype()); }

class ExpandBackward : public Node {
 public:
  const char* name() const override { return "ExpandBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    if (gin[0].needed) sum_to_into(gout, inputs[0].shape(), gin[0].grad, gin[0].accumulate);
  }
};

// Writes src's elements in the order of permutation perm (out dim d = src dim perm[d]).
Tensor permute_copy(const Tensor& x, const std::vector<std::int64_t>& perm, const char* op) {
  const Shape st = contiguous_strides(x.shape());
  Shape out_shape(perm.size()), src_stride(perm.size());
  for (std::size_t d = 0; d < perm.size(); ++d) {
    out_shape[d] = x.shape()[perm[d]];
    src_stride[d] = st[perm[d]];
  }
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  strided(x, 0, out_shape, src_stride, y, 0, contiguous_strides(out_shape), false, op);
  return y;
}

class PermuteBackward : public Node {
 public:
  explicit PermuteBackward(std::vector<std::int64_t> perm) : perm_(std::move(perm)) {}
  const char* name() const override { return "PermuteBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    if (!gin[0].needed) return;
    // gout dim d is input dim perm[d]: walk gout in its order, write at the input's strides.
    const Shape in_st = contiguous_strides(inputs[0].shape());
    Shape dst_stride(perm_.size());
    for (std::size_t d = 0; d < perm_.size(); ++d) dst_stride[d] = in_st[perm_[d]];
    strided(gout, 0, gout.shape(), contiguous_strides(gout.shape()), gin[0].grad, 0, dst_stride,
            gin[0].accumulate, "permute backward");
  }

 private:
  std::vector<std::int64_t> perm_;
};

// The [outer, n, inner] view of x around dim, as the 3-d shape and strides of a slice.
struct Slice3 {
  std::int64_t outer, n, inner;
};
Slice3 around(const Shape& s, std::int64_t dim) {
  Slice3 r{1, s.empty() ? 1 : s[dim], 1};
  for (std::int64_t d = 0; d < dim; ++d) r.outer *= s[d];
  for (std::size_t d = dim + 1; d < s.size(); ++d) r.inner *= s[d];
  return r;
}

// dst [outer, dst_n, inner] at [.., dst_start.., ..] (+)= src [outer, src_n, inner] at
// [.., src_start.., ..], `len` along the middle.
void copy_slab(const Tensor& src, const Slice3& sg, std::int64_t src_start, const Tensor& dst, const Slice3& dg,
               std::int64_t dst_start, std::int64_t len, bool accumulate, const char* op) {
  strided(src, src_start * sg.inner, {sg.outer, len, sg.inner}, {sg.n * sg.inner, sg.inner, 1}, dst,
          dst_start * dg.inner, {dg.n * dg.inner, dg.inner, 1}, accumulate, op);
}

void fill_zero(const Tensor& t) {
  dispatch<CpuAll, CudaAll>("zero fill", t, [&](auto s, auto tag) {
    using T = decltype(tag);
    fill(s, t.numel(), T(0), t.data<T>());
  });
}

class NarrowBackward : public Node {
 public:
  NarrowBackward(std::int64_t dim, std::int64_t start) : dim_(dim), start_(start) {}
  const char* name() const override { return "NarrowBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    GradSlot& slot = gin[0];
    if (!slot.needed) return;
    if (!slot.accumulate) fill_zero(slot.grad);
    const Slice3 dg = around(inputs[0].shape(), dim_), sg = around(gout.shape(), dim_);
    copy_slab(gout, sg, 0, slot.grad, dg, start_, sg.n, true, "narrow backward");
  }

 private:
  std::int64_t dim_, start_;
};

class CatBackward : public Node {
 public:
  explicit CatBackward(std::int64_t dim) : dim_(dim) {}
  const char* name() const override { return "CatBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    const Slice3 sg = around(gout.shape(), dim_);
    std::int64_t start = 0;
    for (std::size_t i = 0; i < gin.size(); ++i) {
      const Slice3 dg = around(inputs[i].shape(), dim_);
      if (gin[i].needed) copy_slab(gout, sg, start, gin[i].grad, dg, 0, dg.n, gin[i].accumulate, "cat backward");
      start += dg.n;
    }
  }

 private:
  std::int64_t dim_;
};

}  // namespace

Tensor expand(const Tensor& x, const Shape& shape) {
  MINIDL_CHECK(x.defined(), "expand: the input is undefined");
  const Shape& s = x.shape();
  MINIDL_CHECK(shape.size() >= s.size(), "expand: cannot expand ", shape_str(s), " to fewer dimensions, ",
               shape_str(shape));
  const std::size_t lead = shape.size() - s.size();
  const Shape st = contiguous_strides(s);
  Shape out(shape), src_stride(shape.size(), 0);
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (d < lead) {
      MINIDL_CHECK(shape[d] >= 0, "expand: size ", shape[d], " at new dimension ", d, " of ", shape_str(shape));
      continue;
    }
    const std::int64_t have = s[d - lead];
    if (shape[d] == -1) out[d] = have;
    MINIDL_CHECK(have == out[d] || have == 1, "expand: cannot expand ", shape_str(s), " to ", shape_str(shape),
                 " (dimension ", d, ": ", have, " is neither ", out[d], " nor 1)");
    src_stride[d] = have == out[d] && have != 1 ? st[d - lead] : 0;
  }
  if (out == s) return x;
  Tensor y = Tensor::empty(out, x.dtype(), x.device());
  strided(x, 0, out, src_stride, y, 0, contiguous_strides(out), false, "expand");
  return differentiable(x) ? record(y, std::make_shared<ExpandBackward>(), {x}) : y;
}

Tensor permute(const Tensor& x, const std::vector<std::int64_t>& dims) {
  MINIDL_CHECK(x.defined(), "permute: the input is undefined");
  const std::int64_t rank = x.dim();
  MINIDL_CHECK(static_cast<std::int64_t>(dims.size()) == rank, "permute: ", dims.size(), " dims given for ",
               shape_str(x.shape()));
  std::vector<std::int64_t> perm(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t d = 0; d < dims.size(); ++d) {
    perm[d] = wrap_dim(dims[d], rank, "permute");
    MINIDL_CHECK(!seen[perm[d]], "permute: dim ", dims[d], " repeated");
    seen[perm[d]] = true;
  }
  Tensor y = permute_copy(x, perm, "permute");
  return differentiable(x) ? record(y, std::make_shared<PermuteBackward>(perm), {x}) : y;
}

Tensor transpose(const Tensor& x, std::int64_t dim0, std::int64_t dim1) {
  MINIDL_CHECK(x.defined(), "transpose: the input is undefined");
  std::vector<std::int64_t> perm(x.dim());
  std::iota(perm.begin(), perm.end(), 0);
  if (x.dim() == 0) return x;
  std::swap(perm[wrap_dim(dim0, x.dim(), "transpose")], perm[wrap_dim(dim1, x.dim(), "transpose")]);
  return permute(x, perm);
}

Tensor unsqueeze(const Tensor& x, std::int64_t dim) {
  MINIDL_CHECK(x.defined(), "unsqueeze: the input is undefined");
  const std::int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape s = x.shape();
  s.insert(s.begin() + d, 1);
  return x.reshape(s);
}

Tensor squeeze(const Tensor& x) {
  MINIDL_CHECK(x.defined(), "squeeze: the input is undefined");
  Shape s;
  for (auto v : x.shape())
    if (v != 1) s.push_back(v);
  return s == x.shape() ? x : x.reshape(s);
}

Tensor squeeze(const Tensor& x, std::int64_t dim) {
  MINIDL_CHECK(x.defined(), "squeeze: the input is undefined");
  if (x.dim() == 0) return x;
  const std::int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  if (x.shape()[d] != 1) return x;  // torch leaves a dimension that is not 1 alone
  Shape s = x.shape();
  s.erase(s.begin() + d);
  return x.reshape(s);
}

Tensor narrow(const Tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length) {
  MINIDL_CHECK(x.defined(), "narrow: the input is undefined");
  MINIDL_CHECK(x.dim() > 0, "narrow: cannot narrow a 0-d tensor");
  const std::int64_t d = wrap_dim(dim, x.dim(), "narrow");
  const std::int64_t n = x.shape()[d];
  if (start < 0) start += n;
  MINIDL_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: start ", start, " and length ", length,
               " do not fit dimension ", dim, " of ", shape_str(x.shape()));
  Shape out = x.shape();
  out[d] = length;
  Tensor y = Tensor::empty(out, x.dtype(), x.device());
  copy_slab(x, around(x.shape(), d), start, y, around(out, d), 0, length, false, "narrow");
  return differentiable(x) ? record(y, std::make_shared<NarrowBackward>(d, start), {x}) : y;
}

Tensor select(const Tensor& x, std::int64_t dim, std::int64_t index) {
  MINIDL_CHECK(x.defined() && x.dim() > 0, "select: needs a tensor with at least one dimension");
  const std::int64_t d = wrap_dim(dim, x.dim(), "select");
  const std::int64_t n = x.shape()[d];
  MINIDL_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dimension ", dim, " of ",
               shape_str(x.shape()));
  return squeeze(narrow(x, d, index < 0 ? index + n : index, 1), d);
}

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  MINIDL_CHECK(!tensors.empty(), "cat: expected a non-empty list of tensors");
  const Tensor& first = tensors[0];
  MINIDL_CHECK(first.defined() && first.dim() > 0, "cat: tensor 0 must have at least one dimension");
  const std::int64_t d = wrap_dim(dim, first.dim(), "cat");
  Shape out = first.shape();
  out[d] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    MINIDL_CHECK(t.defined(), "cat: tensor ", i, " is undefined");
    MINIDL_CHECK(t.device() == first.device() && t.dtype() == first.dtype(), "cat: tensor ", i, " is ", t.str(),
                 ", tensor 0 is ", first.str());
    bool same = t.dim() == first.dim();
    for (std::int64_t k = 0; same && k < t.dim(); ++k) same = k == d || t.shape()[k] == first.shape()[k];
    MINIDL_CHECK(same, "cat: tensor ", i, " has shape ", shape_str(t.shape()), ", expected ",
                 shape_str(first.shape()), " except in dimension ", d);
    out[d] += t.shape()[d];
  }
  Tensor y = Tensor::empty(out, first.dtype(), first.device());
  const Slice3 dg = around(out, d);
  std::int64_t start = 0;
  for (const Tensor& t : tensors) {
    const Slice3 sg = around(t.shape(), d);
    copy_slab(t, sg, 0, y, dg, start, sg.n, false, "cat");
    start += sg.n;
  }
  return differentiable(first) ? record(y, std::make_shared<CatBackward>(d), tensors) : y;
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  MINIDL_CHECK(!tensors.empty() && tensors[0].defined(), "stack: expected a non-empty list of tensors");
  const std::int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    MINIDL_CHECK(tensors[i].defined() && tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " is ",
                 tensors[i].defined() ? shape_str(tensors[i].shape()) : std::string("undefined"),
                 ", expected the shape of tensor 0, ", shape_str(tensors[0].shape()));
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return cat(parts, d);
}

}  // namespace minidl
