// GEMM through OpenBLAS (or, in a build without it, minidl's own blocked GEMM), and the fully
// connected layer on top of it.
#include "minidl/kernels/linear.h"

#include "minidl/config.h"

#if MINIDL_WITH_OPENBLAS
#include <cblas.h>
#endif

#include <climits>

#include "minidl/base/error.h"
#include "minidl/kernels/cpu/gemm_blocked.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

#if MINIDL_WITH_OPENBLAS
namespace {

void sgemm_or_dgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k, float alpha,
                    const float* a, blasint lda, const float* b, blasint ldb, float beta, float* c, blasint ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void sgemm_or_dgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k, double alpha,
                    const double* a, blasint lda, const double* b, blasint ldb, double beta, double* c,
                    blasint ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace
#endif

template <typename T>
void gemm(Stream, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  MINIDL_CPU_PROFILE("gemm");
  if (m == 0 || n == 0) return;
#if !MINIDL_WITH_OPENBLAS
  detail::gemm_blocked<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  if (k == 0) {
    // Nothing to multiply; BLAS would reject the leading dimensions of the empty operands. The
    // contract still holds: beta == 0 writes zeros without reading C.
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  // OpenBLAS is built with 32-bit indices; a larger operand would be silently truncated.
  MINIDL_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX,
               "gemm: dimensions m=", m, " n=", n, " k=", k, " exceed the 32-bit range of OpenBLAS");
  // OpenBLAS scales C by beta in a separate pass that stores zeros when beta == 0 (it does not
  // multiply), so NaN or inf left in C never leaks into the result; the tests hold it to that.
  sgemm_or_dgemm(trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                 static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
                 static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
#endif
}

// y = x W^T + b. The bias is broadcast into y first so the GEMM adds onto it (beta = 1): one
// pass over y instead of a GEMM pass and a bias pass.
template <typename T>
void linear_forward(Stream, const LinearGeometry& g, const T* x, const T* weight, const T* bias, T* y) {
  MINIDL_CPU_PROFILE("linear_forward");
  if (bias) {
    for (std::int64_t i = 0; i < g.batch; ++i)
      for (std::int64_t o = 0; o < g.out; ++o) y[i * g.out + o] = bias[o];
  }
  gemm<T>(Stream{}, false, true, g.batch, g.out, g.in, T(1), x, g.in, weight, g.in, bias ? T(1) : T(0), y, g.out);
}

// dx[batch, in] = dy[batch, out] W[out, in]
template <typename T>
void linear_backward_input(Stream, const LinearGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("linear_backward_input");
  gemm<T>(Stream{}, false, false, g.batch, g.in, g.out, T(1), dy, g.out, weight, g.in, accumulate ? T(1) : T(0), dx,
          g.in);
}

// dW[out, in] = dy^T[out, batch] x[batch, in]
template <typename T>
void linear_backward_weight(Stream, const LinearGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate) {
  MINIDL_CPU_PROFILE("linear_backward_weight");
  gemm<T>(Stream{}, true, false, g.out, g.in, g.batch, T(1), dy, g.out, x, g.in, accumulate ? T(1) : T(0), dweight,
          g.in);
}

// dbias[o] = sum over the batch of dy[., o]: rows are added in order, so the inner loop runs
// along a row and vectorises.
template <typename T>
void linear_backward_bias(Stream, const LinearGeometry& g, const T* dy, T* dbias, bool accumulate) {
  MINIDL_CPU_PROFILE("linear_backward_bias");
  if (!accumulate)
    for (std::int64_t o = 0; o < g.out; ++o) dbias[o] = T(0);
  for (std::int64_t i = 0; i < g.batch; ++i) {
    const T* row = dy + i * g.out;
#pragma omp simd
    for (std::int64_t o = 0; o < g.out; ++o) dbias[o] += row[o];
  }
}

MINIDL_INSTANTIATE_LINEAR(float)
MINIDL_INSTANTIATE_LINEAR(double)

}  // namespace minidl::kernels::cpu
