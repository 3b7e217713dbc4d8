// sgemm_tiled: our own row-major SGEMM (see gemm_tile.cuh for how it is tiled).
#include "minidl/kernels/cuda/gemm_tile.cuh"
#include "minidl/kernels/linear.h"

namespace minidl::kernels::cuda {

namespace {

template <bool Trans>
struct MatrixA {  // element (m, k) of op(A)
  const float* a;
  std::int64_t lda;
  static constexpr bool kAlongM = Trans;
  __device__ float operator()(int m, int k) const { return Trans ? a[k * lda + m] : a[m * lda + k]; }
};

template <bool Trans>
struct MatrixB {  // element (k, n) of op(B)
  const float* b;
  std::int64_t ldb;
  static constexpr bool kAlongN = !Trans;
  __device__ float operator()(int k, int n) const { return Trans ? b[n * ldb + k] : b[k * ldb + n]; }
};

struct AlphaBeta {
  float* c;
  std::int64_t ldc;
  float alpha, beta;
  __device__ void operator()(int m, int n, float acc) const {
    float* p = c + m * ldc + n;
    // beta == 0: C is never read (it may hold garbage or NaN), as in BLAS.
    *p = beta == 0.f ? alpha * acc : fmaf(beta, *p, alpha * acc);
  }
};

template <bool TA, bool TB>
void run(std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda, const float* b,
         std::int64_t ldb, float beta, float* c, std::int64_t ldc, cudaStream_t s) {
  detail::launch_gemm_tile(m, n, k, MatrixA<TA>{a, lda}, MatrixB<TB>{b, ldb}, AlphaBeta{c, ldc, alpha, beta}, s,
                           "sgemm_tiled");
}

}  // namespace

template <typename T>
void sgemm_tiled(Stream stream, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
                 const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  const cudaStream_t s = detail::native(stream);
  if (trans_a) {
    if (trans_b)
      run<true, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, s);
    else
      run<true, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, s);
  } else {
    if (trans_b)
      run<false, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, s);
    else
      run<false, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, s);
  }
}

#define MINIDL_INSTANTIATE(T)                                                                                          \
  template void sgemm_tiled<T>(Stream, bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*,              \
                               std::int64_t, const T*, std::int64_t, T, T*, std::int64_t);
MINIDL_INSTANTIATE(float)
#undef MINIDL_INSTANTIATE

}  // namespace minidl::kernels::cuda
