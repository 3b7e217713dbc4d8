// cuBLAS SGEMM on the emulated device (include/cublas_v2.h).
#include <cmath>
#include <cstring>

#include "cublas_v2.h"
#include "internal.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t mode = CUBLAS_DEFAULT_MATH;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

namespace {

using emu::str;

float to_tf32(float x) {
  if (!std::isfinite(x)) return x;
  std::uint32_t b;
  std::memcpy(&b, &x, 4);
  b = (b + 0x1000u) & 0xffffe000u;  // keep 10 mantissa bits, rounding to nearest
  std::memcpy(&x, &b, 4);
  return x;
}

// The elements an operand of `rows` x `cols` (column-major, leading dimension ld) spans.
std::size_t span(int rows, int cols, int ld) {
  return rows <= 0 || cols <= 0 ? 0 : std::size_t(cols - 1) * std::size_t(ld) + std::size_t(rows);
}

bool operand_ok(const char* which, const void* p, std::size_t elems) {
  if (elems == 0 || emu::device_range_ok(p, elems * sizeof(float))) return true;
  emu::set_sticky_error(
      cudaErrorIllegalAddress,
      str("cublasSgemm: operand %s (%p, %zu floats) is not within a device allocation: %s", which, p, elems,
          emu::in_arena(p) ? emu::describe_device_address(reinterpret_cast<std::uintptr_t>(p), 4).c_str()
                           : "a host address"));
  return false;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  // As cuBLAS does: a new stream resets the workspace to cuBLAS's own.
  h->workspace = nullptr;
  h->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetStream(cublasHandle_t h, cudaStream_t* s) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  *s = h->stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void* ws, std::size_t bytes) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  std::lock_guard<std::recursive_mutex> lock(emu::api_mutex());
  if (bytes && !emu::device_range_ok(ws, bytes)) return CUBLAS_STATUS_INVALID_VALUE;
  h->workspace = ws;
  h->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t* mode) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  *mode = h->mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (lda < std::max(1, ta == CUBLAS_OP_N ? m : k)) return CUBLAS_STATUS_INVALID_VALUE;
  if (ldb < std::max(1, tb == CUBLAS_OP_N ? k : n)) return CUBLAS_STATUS_INVALID_VALUE;
  if (ldc < std::max(1, m)) return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  std::lock_guard<std::recursive_mutex> lock(emu::api_mutex());
  if (emu::sticky_error()) return CUBLAS_STATUS_EXECUTION_FAILED;
  const std::size_t a_elems = k ? (ta == CUBLAS_OP_N ? span(m, k, lda) : span(k, m, lda)) : 0;
  const std::size_t b_elems = k ? (tb == CUBLAS_OP_N ? span(k, n, ldb) : span(n, k, ldb)) : 0;
  const std::size_t c_elems = span(m, n, ldc);
  if (!operand_ok("A", A, a_elems) || !operand_ok("B", B, b_elems) || !operand_ok("C", C, c_elems))
    return CUBLAS_STATUS_EXECUTION_FAILED;
  const float al = *alpha, be = *beta;  // host pointer mode: read at the call
  const bool tf32 = h->mode == CUBLAS_TF32_TENSOR_OP_MATH;
  std::vector<emu::Access> acc;
  if (a_elems) acc.push_back(emu::Access{A, a_elems * 4, false});
  if (b_elems) acc.push_back(emu::Access{B, b_elems * 4, false});
  acc.push_back(emu::Access{C, c_elems * 4, true});
  const cudaError_t r = emu::enqueue(
      h->stream, str("cublasSgemm (%dx%dx%d)", m, n, k), std::move(acc), {}, [=]() {
        for (int j = 0; j < n; ++j)
          for (int i = 0; i < m; ++i) {
            float s = 0.f;
            for (int p = 0; p < k; ++p) {
              float a = ta == CUBLAS_OP_N ? A[i + std::size_t(p) * lda] : A[p + std::size_t(i) * lda];
              float b = tb == CUBLAS_OP_N ? B[p + std::size_t(j) * ldb] : B[j + std::size_t(p) * ldb];
              if (tf32) {
                a = to_tf32(a);
                b = to_tf32(b);
              }
              s = std::fma(a, b, s);
            }
            float& c = C[i + std::size_t(j) * ldc];
            c = be == 0.f ? al * s : std::fma(be, c, al * s);  // beta == 0: C is not read (it may be NaN)
          }
        return cudaSuccess;
      });
  return r == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}
