// Fully connected layer, PyTorch's layout: x [batch, in], weight [out, in], bias [out],
// y = x weight^T + bias, plus the GEMM it is built on.
#pragma once

#include "minidl/kernels/bf16.h"
#include "minidl/kernels/common.h"

namespace minidl::kernels {

struct LinearGeometry {
  std::int64_t batch, in, out;
};

namespace cpu {
#include "minidl/kernels/linear_entry_points.h"
}  // namespace cpu

namespace cuda {
#include "minidl/kernels/linear_entry_points.h"
// Our own tiled SGEMM, gemm's contract, for the implicit-GEMM conv and as a benchmark subject.
template <typename T>
void sgemm_tiled(Stream, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
                 const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

// The precision policy's bf16 on the GPU: gemm's contract with packed bf16 A and B and float C,
// through cuBLAS's GEMMEx (CUDA_R_16BF inputs, CUBLAS_COMPUTE_32F: FP32 accumulation, tensor
// cores where the GPU has them), and the linear layer on it. The operands are what
// to_bfloat16 (bf16.h) made of the float32 values; the bias, outputs and gradients are float32,
// and the bias gradient is linear_backward_bias on the unrounded upstream gradient.
void gemm_bf16(Stream, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
               const bfloat16* a, std::int64_t lda, const bfloat16* b, std::int64_t ldb, float beta, float* c,
               std::int64_t ldc);
void linear_forward_bf16(Stream, const LinearGeometry& g, const bfloat16* x, const bfloat16* weight, const float* bias,
                         float* y);
void linear_backward_input_bf16(Stream, const LinearGeometry& g, const bfloat16* dy, const bfloat16* weight, float* dx,
                                bool accumulate);
void linear_backward_weight_bf16(Stream, const LinearGeometry& g, const bfloat16* x, const bfloat16* dy,
                                 float* dweight, bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
