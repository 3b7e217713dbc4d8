// cuBLAS SGEMM and bf16 GEMMEx on the emulated device (include/cublas_v2.h).
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

bool operand_ok(const char* fn, const char* which, const void* p, std::size_t elems, std::size_t elem_bytes) {
  if (elems == 0 || emu::device_range_ok(p, elems * elem_bytes)) return true;
  emu::set_sticky_error(
      cudaErrorIllegalAddress,
      str("%s: operand %s (%p, %zu elements of %zu bytes) is not within a device allocation: %s", fn, which, p, elems,
          elem_bytes,
          emu::in_arena(p) ? emu::describe_device_address(reinterpret_cast<std::uintptr_t>(p), 4).c_str()
                           : "a host address"));
  return false;
}

// bf16 (the top 16 bits of a float32) widened to float: exact.
float bf16_to_float(std::uint16_t b) {
  const std::uint32_t u = std::uint32_t(b) << 16;
  float v;
  std::memcpy(&v, &u, 4);
  return v;
}

// The GEMM both entry points run, after their checks: C = alpha op(A) op(B) + beta C, column-major,
// float accumulation with fused multiply-adds in k order. A and B are floats (rounded to TF32
// first when `tf32`) or bf16 bit patterns (`bf16`, widened exactly).
cublasStatus_t run_gemm(cublasHandle_t h, const char* fn, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                        int k, float al, const void* A, int lda, const void* B, int ldb, float be, float* C, int ldc,
                        bool bf16, bool tf32) {
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  std::lock_guard<std::recursive_mutex> lock(emu::api_mutex());
  if (emu::sticky_error()) return CUBLAS_STATUS_EXECUTION_FAILED;
  const std::size_t in_bytes = bf16 ? 2 : 4;
  const std::size_t a_elems = k ? (ta == CUBLAS_OP_N ? span(m, k, lda) : span(k, m, lda)) : 0;
  const std::size_t b_elems = k ? (tb == CUBLAS_OP_N ? span(k, n, ldb) : span(n, k, ldb)) : 0;
  const std::size_t c_elems = span(m, n, ldc);
  if (!operand_ok(fn, "A", A, a_elems, in_bytes) || !operand_ok(fn, "B", B, b_elems, in_bytes) ||
      !operand_ok(fn, "C", C, c_elems, 4))
    return CUBLAS_STATUS_EXECUTION_FAILED;
  std::vector<emu::Access> acc;
  if (a_elems) acc.push_back(emu::Access{A, a_elems * in_bytes, false});
  if (b_elems) acc.push_back(emu::Access{B, b_elems * in_bytes, false});
  acc.push_back(emu::Access{C, c_elems * 4, true});
  const cudaError_t r = emu::enqueue(
      h->stream, str("%s (%dx%dx%d)", fn, m, n, k), std::move(acc), {}, [=]() {
        auto load = [&](const void* p, std::size_t i) {
          if (bf16) return bf16_to_float(static_cast<const std::uint16_t*>(p)[i]);
          const float v = static_cast<const float*>(p)[i];
          return tf32 ? to_tf32(v) : v;
        };
        for (int j = 0; j < n; ++j)
          for (int i = 0; i < m; ++i) {
            float s = 0.f;
            for (int p = 0; p < k; ++p) {
              const float a = load(A, ta == CUBLAS_OP_N ? i + std::size_t(p) * lda : p + std::size_t(i) * lda);
              const float b = load(B, tb == CUBLAS_OP_N ? p + std::size_t(j) * ldb : j + std::size_t(p) * ldb);
              s = std::fma(a, b, s);
            }
            float& c = C[i + std::size_t(j) * ldc];
            c = be == 0.f ? al * s : std::fma(be, c, al * s);  // beta == 0: C is not read (it may be NaN)
          }
        return cudaSuccess;
      });
  return r == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
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
  // host pointer mode: alpha and beta are read at the call
  return run_gemm(h, "cublasSgemm", ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc, false,
                  h->mode == CUBLAS_TF32_TENSOR_OP_MATH);
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void* alpha, const void* A, cudaDataType_t Atype, int lda, const void* B,
                            cudaDataType_t Btype, int ldb, const void* beta, void* C, cudaDataType_t Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (Atype != CUDA_R_16BF || Btype != CUDA_R_16BF || Ctype != CUDA_R_32F || computeType != CUBLAS_COMPUTE_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;  // the one combination minidl uses
  if (algo != CUBLAS_GEMM_DEFAULT && algo != CUBLAS_GEMM_DEFAULT_TENSOR_OP) return CUBLAS_STATUS_INVALID_VALUE;
  if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (lda < std::max(1, ta == CUBLAS_OP_N ? m : k)) return CUBLAS_STATUS_INVALID_VALUE;
  if (ldb < std::max(1, tb == CUBLAS_OP_N ? k : n)) return CUBLAS_STATUS_INVALID_VALUE;
  if (ldc < std::max(1, m)) return CUBLAS_STATUS_INVALID_VALUE;
  // COMPUTE_32F: alpha and beta are floats, read at the call (host pointer mode). The products of
  // bf16 values are exact in float, so this is what the tensor cores compute up to the order of
  // the additions.
  return run_gemm(h, "cublasGemmEx", ta, tb, m, n, k, *static_cast<const float*>(alpha), A, lda, B, ldb,
                  *static_cast<const float*>(beta), static_cast<float*>(C), ldc, true, false);
}
