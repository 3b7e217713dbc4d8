// Fully connected layer, PyTorch's layout: x [batch, in], weight [out, in], bias [out],
// y = x weight^T + bias, plus the GEMM it is built on.
#pragma once

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
}  // namespace cuda

}  // namespace minidl::kernels
