// A plain blocked GEMM (the GotoBLAS loop structure without its assembly): for each block of
// KC along k, op(A)'s rows are packed into strips MR tall and op(B)'s columns, NC at a time,
// into strips NR wide, both contiguous in the order the micro-kernel reads them; the
// micro-kernel keeps an MR x NR tile of C in registers while it runs down the KC products.
// Packing turns the transposes into a layout question answered once per element, so one
// micro-kernel serves all four cases. Written in portable C++ with `omp simd` on the NR loop;
// the compiler's vectoriser does the rest (-O3, and -ffp-contract=fast for this file in
// CMakeLists.txt so the multiply-adds become FMAs).
//
// Threads split C into tiles of whole strips (MS strips of A by NS strips of B per task), so
// every element of C is summed by one thread in one fixed order (k ascending): the result is
// bit-identical whatever the thread count, as training's determinism needs.
#include "minidl/kernels/cpu/gemm_blocked.h"

#include <algorithm>
#include <cstddef>

#include "minidl/kernels/cpu/parallel.h"

namespace minidl::kernels::cpu::detail {

namespace {

constexpr std::int64_t kKc = 256;   // k per packed block: one A strip + one B strip stay in L1
constexpr std::int64_t kNc = 3072;  // columns of B packed at a time (kKc x kNc floats: 3 MiB)
constexpr std::int64_t kMs = 12;    // A strips per task (72 rows)

template <typename T>
struct Tile {
  static constexpr int mr = 6;
  static constexpr int nr = 64 / static_cast<int>(sizeof(T));  // one cache line: 16 floats, 8 doubles
  static constexpr std::int64_t ns = 256 / nr;                  // B strips per task (256 columns)
};

// Ap[s][p][r] = op(A)(row0 + s*mr + r, p0 + p), zero past the last row.
template <typename T>
void pack_a_strip(bool trans, const T* a, std::int64_t lda, std::int64_t m, std::int64_t row, std::int64_t p0,
                  std::int64_t kc, T* out) {
  constexpr int mr = Tile<T>::mr;
  const std::int64_t rows = std::min<std::int64_t>(mr, m - row);
  for (std::int64_t p = 0; p < kc; ++p) {
    T* o = out + p * mr;
    for (int r = 0; r < mr; ++r) {
      const std::int64_t i = row + r, kk = p0 + p;
      o[r] = r < rows ? (trans ? a[kk * lda + i] : a[i * lda + kk]) : T(0);
    }
  }
}

// Bp[t][p][j] = op(B)(p0 + p, col + j), zero past the last column.
template <typename T>
void pack_b_strip(bool trans, const T* b, std::int64_t ldb, std::int64_t n, std::int64_t col, std::int64_t p0,
                  std::int64_t kc, T* out) {
  constexpr int nr = Tile<T>::nr;
  const std::int64_t cols = std::min<std::int64_t>(nr, n - col);
  for (std::int64_t p = 0; p < kc; ++p) {
    T* o = out + p * nr;
    const std::int64_t kk = p0 + p;
    if (!trans && cols == nr) {
      const T* src = b + kk * ldb + col;
#pragma omp simd
      for (int j = 0; j < nr; ++j) o[j] = src[j];
    } else {
      for (int j = 0; j < nr; ++j) o[j] = j < cols ? (trans ? b[(col + j) * ldb + kk] : b[kk * ldb + col + j]) : T(0);
    }
  }
}

// acc = sum over p of Ap[.][p] (outer) Bp[p][.]; then C = alpha acc + beta C on the valid part.
// overwrite: C is not read (beta == 0 on the first k block).
template <typename T>
inline void micro_kernel(std::int64_t kc, const T* ap, const T* bp, T alpha, T beta, bool overwrite, T* c,
                         std::int64_t ldc, std::int64_t rows, std::int64_t cols) {
  constexpr int mr = Tile<T>::mr, nr = Tile<T>::nr;
  T acc[mr][nr] = {};
  for (std::int64_t p = 0; p < kc; ++p) {
    const T* av = ap + p * mr;
    const T* bv = bp + p * nr;
    for (int r = 0; r < mr; ++r) {
      const T ar = av[r];
#pragma omp simd
      for (int j = 0; j < nr; ++j) acc[r][j] += ar * bv[j];
    }
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    T* cr = c + r * ldc;
    if (overwrite) {
      for (std::int64_t j = 0; j < cols; ++j) cr[j] = alpha * acc[r][j];
    } else {
      for (std::int64_t j = 0; j < cols; ++j) cr[j] = alpha * acc[r][j] + beta * cr[j];
    }
  }
}

// k == 0 or alpha == 0: C = beta C, and (as in BLAS) A and B are not read.
template <typename T>
void scale_c(std::int64_t m, std::int64_t n, T beta, T* c, std::int64_t ldc) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

}  // namespace

template <typename T>
void gemm_blocked(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                  std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  constexpr int mr = Tile<T>::mr, nr = Tile<T>::nr;
  constexpr std::int64_t ns = Tile<T>::ns;
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == T(0)) return scale_c(m, n, beta, c, ldc);  // BLAS: A and B are not read

  const std::int64_t m_strips = (m + mr - 1) / mr;
  const std::int64_t kc_max = std::min(k, kKc);
  const std::int64_t nc_max = std::min(n, kNc);
  const std::int64_t nc_strips_max = (nc_max + nr - 1) / nr;
  // Per calling thread (a GEMM may run inside another kernel's parallel loop), grown once.
  thread_local ScratchBuffer a_scratch, b_scratch;
  T* ap = static_cast<T*>(a_scratch.get(sizeof(T) * static_cast<std::size_t>(m_strips * mr * kc_max)));
  T* bp = static_cast<T*>(b_scratch.get(sizeof(T) * static_cast<std::size_t>(nc_strips_max * nr * kc_max)));
  const bool threads = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >= 1 << 18;

#pragma omp parallel if (threads)
  for (std::int64_t p0 = 0; p0 < k; p0 += kKc) {
    const std::int64_t kc = std::min(kKc, k - p0);
    const bool first = p0 == 0;
    const bool overwrite = first && beta == T(0);
    const T beta_here = first ? beta : T(1);
#pragma omp for schedule(static)
    for (std::int64_t s = 0; s < m_strips; ++s) pack_a_strip(trans_a, a, lda, m, s * mr, p0, kc, ap + s * mr * kc);
    for (std::int64_t j0 = 0; j0 < n; j0 += kNc) {
      const std::int64_t nc = std::min(kNc, n - j0);
      const std::int64_t n_strips = (nc + nr - 1) / nr;
#pragma omp for schedule(static)
      for (std::int64_t t = 0; t < n_strips; ++t)
        pack_b_strip(trans_b, b, ldb, n, j0 + t * nr, p0, kc, bp + t * nr * kc);
      const std::int64_t m_tasks = (m_strips + kMs - 1) / kMs, n_tasks = (n_strips + ns - 1) / ns;
#pragma omp for collapse(2) schedule(dynamic, 1)
      for (std::int64_t ti = 0; ti < m_tasks; ++ti) {
        for (std::int64_t tj = 0; tj < n_tasks; ++tj) {
          // B strip outer: it stays in L1 while the task's A strips (L2) stream past it.
          for (std::int64_t t = tj * ns; t < std::min(n_strips, (tj + 1) * ns); ++t) {
            const std::int64_t col = j0 + t * nr, cols = std::min<std::int64_t>(nr, n - col);
            for (std::int64_t s = ti * kMs; s < std::min(m_strips, (ti + 1) * kMs); ++s) {
              const std::int64_t row = s * mr, rows = std::min<std::int64_t>(mr, m - row);
              micro_kernel(kc, ap + s * mr * kc, bp + t * nr * kc, alpha, beta_here, overwrite, c + row * ldc + col,
                           ldc, rows, cols);
            }
          }
        }
      }
    }
  }
}

template void gemm_blocked<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                                  std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
template void gemm_blocked<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*,
                                   std::int64_t, const double*, std::int64_t, double, double*, std::int64_t);

}  // namespace minidl::kernels::cpu::detail
