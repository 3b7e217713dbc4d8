// matmul with torch's rules for 1-d to n-d operands: a 1-d operand becomes a row (left) or a
// column (right) and that dimension is dropped from the result; batch dimensions broadcast.
// Each product is one GEMM (kernels/linear.h): one call for [.., m, k] x [k, n] (the batch folded
// into m), one call per batch otherwise.
#include "minidl/core/ops/dispatch.h"
#include "minidl/core/ops/layout.h"
#include "minidl/kernels/linear.h"

namespace minidl {

using namespace ops_detail;

namespace {

// c[b] (+)= op(a[b]) op(b[b]) for each of `batch` products; a stride of 0 reuses one matrix.
struct Gemm {
  bool ta, tb;
  std::int64_t m, n, k, lda, ldb;
  std::int64_t batch, stride_a, stride_b, stride_c;
};

void gemm_batched(const Gemm& g, const Tensor& a, const Tensor& b, const Tensor& c, bool accumulate) {
  dispatch("matmul", a, [&](auto s, auto tag) {
    using T = decltype(tag);
    for (std::int64_t i = 0; i < g.batch; ++i)
      gemm(s, g.ta, g.tb, g.m, g.n, g.k, T(1), a.data<T>() + i * g.stride_a, g.lda, b.data<T>() + i * g.stride_b,
           g.ldb, accumulate ? T(1) : T(0), c.data<T>() + i * g.stride_c, g.n);
  });
}

// a [B, m, k] x b [B, k, n] (B the same on both, already expanded) -> [B, m, n]; backward
// dA = dC B^T, dB = A^T dC per batch.
class BmmBackward : public Node {
 public:
  BmmBackward(std::int64_t batch, std::int64_t m, std::int64_t k, std::int64_t n) : B_(batch), m_(m), k_(k), n_(n) {}
  const char* name() const override { return "MatmulBackward"; }
  void backward(const Tensor& gout, std::vector<GradSlot>& gin) override {
    const Tensor &a = inputs[0], &b = inputs[1];
    if (gin[0].needed)  // [m, n] x [n, k]^T... dA[m, k] = dC[m, n] B[k, n]^T
      gemm_batched({false, true, m_, k_, n_, n_, n_, B_, m_ * n_, k_ * n_, m_ * k_}, gout, b, gin[0].grad,
                   gin[0].accumulate);
    if (gin[1].needed)  // dB[k, n] = A[m, k]^T dC[m, n]
      gemm_batched({true, false, k_, n_, m_, k_, n_, B_, m_ * k_, m_ * n_, k_ * n_}, a, gout, gin[1].grad,
                   gin[1].accumulate);
  }

 private:
  std::int64_t B_, m_, k_, n_;
};

Tensor bmm3(const Tensor& a, const Tensor& b) {
  const std::int64_t B = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  Tensor c = Tensor::empty({B, m, n}, a.dtype(), a.device());
  gemm_batched({false, false, m, n, k, k, n, B, m * k, k * n, m * n}, a, b, c, false);
  return record(c, std::make_shared<BmmBackward>(B, m, k, n), {a, b});
}

}  // namespace

Tensor matmul(const Tensor& a0, const Tensor& b0) {
  check_float(a0, "matmul", "first input");
  check_float(b0, "matmul", "second input");
  check_same_device("matmul", {&a0, &b0});
  check_same_dtype("matmul", {&a0, &b0});
  MINIDL_CHECK(a0.dim() >= 1 && b0.dim() >= 1, "matmul: both inputs need at least one dimension, got ",
               shape_str(a0.shape()), " and ", shape_str(b0.shape()));
  const bool a_vec = a0.dim() == 1, b_vec = b0.dim() == 1;
  const Tensor a = a_vec ? unsqueeze(a0, 0) : a0;
  const Tensor b = b_vec ? unsqueeze(b0, 1) : b0;
  const std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  MINIDL_CHECK(b.size(-2) == k, "matmul: ", shape_str(a0.shape()), " and ", shape_str(b0.shape()),
               " cannot be multiplied (", k, " columns against ", b.size(-2), " rows)");
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2), b_batch(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(a_batch, b_batch, "matmul");
  const std::int64_t B = numel_of(batch);
  Tensor c;
  if (b_batch.empty() || numel_of(b_batch) == 1) {
    // [.., m, k] x [k, n]: fold the batch into the rows, one GEMM.
    const Tensor a2 = expand(a, [&] { Shape s = batch; s.push_back(m); s.push_back(k); return s; }()).reshape({1, B * m, k});
    c = bmm3(a2, b.reshape({1, k, n}));
  } else {
    Shape sa = batch, sb = batch;
    sa.insert(sa.end(), {m, k});
    sb.insert(sb.end(), {k, n});
    c = bmm3(expand(a, sa).reshape({B, m, k}), expand(b, sb).reshape({B, k, n}));
  }
  Shape out = batch;
  if (!a_vec) out.push_back(m);
  if (!b_vec) out.push_back(n);
  return c.reshape(out);
}

}  // namespace minidl
