// Fully connected layer, PyTorch's layout: x [batch, in], weight [out, in], bias [out],
// y = x weight^T + bias, plus the GEMM it is built on.
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

struct LinearGeometry {
  std::int64_t batch, in, out;
};

namespace cpu {
// Row-major C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C, through OpenBLAS (or minidl's own
// blocked GEMM in a build without it: cpu/gemm_blocked.h).
// With beta == 0, C is never read.
template <typename T>
void gemm(Stream, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

template <typename T>
void linear_forward(Stream, const LinearGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void linear_backward_input(Stream, const LinearGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void linear_backward_weight(Stream, const LinearGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
template <typename T>
void linear_backward_bias(Stream, const LinearGeometry& g, const T* dy, T* dbias, bool accumulate);
}  // namespace cpu

namespace cuda {
// cuBLAS SGEMM, row-major, strict FP32 unless TF32 was allowed (see runtime.h).
template <typename T>
void gemm(Stream, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);
// Our own tiled SGEMM, same contract, for the implicit-GEMM conv and as a benchmark subject.
template <typename T>
void sgemm_tiled(Stream, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
                 const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

template <typename T>
void linear_forward(Stream, const LinearGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void linear_backward_input(Stream, const LinearGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void linear_backward_weight(Stream, const LinearGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
template <typename T>
void linear_backward_bias(Stream, const LinearGeometry& g, const T* dy, T* dbias, bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
