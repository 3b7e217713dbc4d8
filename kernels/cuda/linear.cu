// cuBLAS SGEMM (row-major on column-major cuBLAS) and the fully connected layer on it; the same
// with bf16 operands through cuBLAS GEMMEx (the precision policy's bf16).
#include <climits>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/context.h"
#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/linear.h"

namespace minidl::kernels::cuda {

namespace {

// y[b, o] = bias[o]: the GEMM then adds x W^T on top (beta = 1).
__global__ void broadcast_rows_kernel(std::int64_t rows, std::int64_t cols, const float* bias, float* y) {
  const std::int64_t total = rows * cols;
  for (std::int64_t i = detail::grid_index(); i < total; i += detail::grid_stride())
    y[i] = bias[i % cols];
}

// dbias[o] (+)= sum_b dy[b, o]: one thread per column, rows added in order (deterministic);
// neighbouring threads read neighbouring columns, so the loads coalesce.
template <bool Accumulate>
__global__ void column_sum_kernel(std::int64_t rows, std::int64_t cols, const float* dy, float* out) {
  for (std::int64_t o = detail::grid_index(); o < cols; o += detail::grid_stride()) {
    float acc = 0.f;
    for (std::int64_t b = 0; b < rows; ++b) acc += dy[b * cols + o];
    if (Accumulate)
      out[o] += acc;
    else
      out[o] = acc;
  }
}

int to_int(std::int64_t v, const char* what) {
  MINIDL_CHECK(v >= 0 && v <= INT_MAX, "cuBLAS gemm: ", what, " = ", v, " does not fit cuBLAS's 32-bit int");
  return static_cast<int>(v);
}

}  // namespace

template <typename T>
void gemm(Stream stream, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
          const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    // C = beta C (never read when beta == 0): the tiled kernel does exactly that with no K loop.
    sgemm_tiled(stream, trans_a, trans_b, m, n, 0, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  cublasHandle_t h = detail::context().cublas(native(stream));
  CUBLAS_CHECK(cublasSgemm(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, to_int(n, "n"),
                           to_int(m, "m"), to_int(k, "k"), &alpha, b, to_int(ldb, "ldb"), a, to_int(lda, "lda"), &beta,
                           c, to_int(ldc, "ldc")));
}

template <typename T>
void linear_forward(Stream stream, const LinearGeometry& g, const T* x, const T* weight, const T* bias, T* y) {
  if (g.batch <= 0 || g.out <= 0) return;
  if (bias) {
    broadcast_rows_kernel<<<grid_for(g.batch * g.out), kBlock, 0, native(stream)>>>(g.batch, g.out, bias, y);
    CUDA_LAUNCH_CHECK("broadcast_rows_kernel");
  }
  // y[batch, out] (+)= x[batch, in] W[out, in]^T
  gemm(stream, false, true, g.batch, g.out, g.in, T(1), x, g.in, weight, g.in, bias ? T(1) : T(0), y, g.out);
}

template <typename T>
void linear_backward_input(Stream stream, const LinearGeometry& g, const T* dy, const T* weight, T* dx,
                           bool accumulate) {
  // dx[batch, in] (+)= dy[batch, out] W[out, in]
  gemm(stream, false, false, g.batch, g.in, g.out, T(1), dy, g.out, weight, g.in, accumulate ? T(1) : T(0), dx, g.in);
}

template <typename T>
void linear_backward_weight(Stream stream, const LinearGeometry& g, const T* x, const T* dy, T* dweight,
                            bool accumulate) {
  // dW[out, in] (+)= dy[batch, out]^T x[batch, in]
  gemm(stream, true, false, g.out, g.in, g.batch, T(1), dy, g.out, x, g.in, accumulate ? T(1) : T(0), dweight, g.in);
}

template <typename T>
void linear_backward_bias(Stream stream, const LinearGeometry& g, const T* dy, T* dbias, bool accumulate) {
  if (g.out <= 0) return;
  if (accumulate)
    column_sum_kernel<true><<<grid_for(g.out), kBlock, 0, native(stream)>>>(g.batch, g.out, dy, dbias);
  else
    column_sum_kernel<false><<<grid_for(g.out), kBlock, 0, native(stream)>>>(g.batch, g.out, dy, dbias);
  CUDA_LAUNCH_CHECK("column_sum_kernel");
}

MINIDL_INSTANTIATE_LINEAR(float)

void gemm_bf16(Stream stream, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
               const bfloat16* a, std::int64_t lda, const bfloat16* b, std::int64_t ldb, float beta, float* c,
               std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // C = beta C, as gemm does: no operand is read
    sgemm_tiled(stream, trans_a, trans_b, m, n, 0, alpha, static_cast<const float*>(nullptr), lda,
                static_cast<const float*>(nullptr), ldb, beta, c, ldc);
    return;
  }
  // As gemm: row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T. bf16 inputs, FP32
  // output and accumulation; CUBLAS_GEMM_DEFAULT lets cuBLAS pick its tensor-core kernels (the
  // handle's math mode only concerns FP32 inputs).
  cublasHandle_t h = detail::context().cublas(native(stream));
  CUBLAS_CHECK(cublasGemmEx(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, to_int(n, "n"),
                            to_int(m, "m"), to_int(k, "k"), &alpha, b, CUDA_R_16BF, to_int(ldb, "ldb"), a, CUDA_R_16BF,
                            to_int(lda, "lda"), &beta, c, CUDA_R_32F, to_int(ldc, "ldc"), CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT));
}

void linear_forward_bf16(Stream stream, const LinearGeometry& g, const bfloat16* x, const bfloat16* weight,
                         const float* bias, float* y) {
  if (g.batch <= 0 || g.out <= 0) return;
  if (bias) {
    broadcast_rows_kernel<<<grid_for(g.batch * g.out), kBlock, 0, native(stream)>>>(g.batch, g.out, bias, y);
    CUDA_LAUNCH_CHECK("broadcast_rows_kernel");
  }
  gemm_bf16(stream, false, true, g.batch, g.out, g.in, 1.f, x, g.in, weight, g.in, bias ? 1.f : 0.f, y, g.out);
}

void linear_backward_input_bf16(Stream stream, const LinearGeometry& g, const bfloat16* dy, const bfloat16* weight,
                                float* dx, bool accumulate) {
  gemm_bf16(stream, false, false, g.batch, g.in, g.out, 1.f, dy, g.out, weight, g.in, accumulate ? 1.f : 0.f, dx, g.in);
}

void linear_backward_weight_bf16(Stream stream, const LinearGeometry& g, const bfloat16* x, const bfloat16* dy,
                                 float* dweight, bool accumulate) {
  gemm_bf16(stream, true, false, g.out, g.in, g.batch, 1.f, dy, g.out, x, g.in, accumulate ? 1.f : 0.f, dweight, g.in);
}

}  // namespace minidl::kernels::cuda
