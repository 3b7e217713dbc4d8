// The entry points of kernels/linear.h, the same on both devices: linear.h includes this file
// twice, inside namespace cpu and inside namespace cuda, so that each is declared once.
// No #pragma once, on purpose; include linear.h, never this file.

// Row-major C[m,n] = alpha * op(A)[m,k] op(B)[k,n] + beta * C; with beta == 0, C is never read.
// CPU: through OpenBLAS (or minidl's own blocked GEMM in a build without it: cpu/gemm_blocked.h).
// CUDA: cuBLAS SGEMM, strict FP32 unless TF32 was allowed (see runtime.h).
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

// Explicitly instantiates the entry points above for the element type T: the one list
// kernels/cpu/linear.cpp and kernels/cuda/linear.cu share, each naming the types it has.
#define MINIDL_INSTANTIATE_LINEAR(T)                                                                                   \
  template void gemm<T>(Stream, bool, bool, std::int64_t, std::int64_t, std::int64_t, T, const T*, std::int64_t,       \
                        const T*, std::int64_t, T, T*, std::int64_t);                                                  \
  template void linear_forward<T>(Stream, const LinearGeometry&, const T*, const T*, const T*, T*);                    \
  template void linear_backward_input<T>(Stream, const LinearGeometry&, const T*, const T*, T*, bool);                 \
  template void linear_backward_weight<T>(Stream, const LinearGeometry&, const T*, const T*, T*, bool);                \
  template void linear_backward_bias<T>(Stream, const LinearGeometry&, const T*, T*, bool);
