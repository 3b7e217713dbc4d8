// minidl's own CPU GEMM, for builds without OpenBLAS (a GPU machine whose image has no BLAS,
// where only the CPU reference and the CPU halves of the parity tests need it). Same contract
// as cpu::gemm: row-major C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C, and with
// beta == 0 C is never read. Internal to kernels/cpu; cpu::gemm calls it when the build has no
// CBLAS, and the tests call it directly so it is checked in every build.
#pragma once

#include <cstdint>

namespace minidl::kernels::cpu::detail {

template <typename T>
void gemm_blocked(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                  std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

}  // namespace minidl::kernels::cpu::detail
