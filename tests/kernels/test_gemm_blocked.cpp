// minidl's own blocked CPU GEMM (kernels/cpu/gemm_blocked.cpp, what cpu::gemm runs in a build
// without OpenBLAS), against a plain triple loop in long double, on shapes that straddle every
// block edge (the 6-row and 8/16-column register tiles, k blocks of 256, column panels of 3072),
// with all four transposes, padded leading dimensions, and the alpha/beta cases of BLAS.
#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

#include "minidl/kernels/cpu/gemm_blocked.h"

namespace {

using minidl::kernels::cpu::detail::gemm_blocked;

struct Case {
  bool ta, tb;
  std::int64_t m, n, k;
  double alpha, beta;
};

template <typename T>
struct Operands {
  std::int64_t lda, ldb, ldc;
  std::vector<T> a, b, c;
  Operands(const Case& s, std::uint32_t seed) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    // Leading dimensions a little wider than the rows, so a kernel that assumes them packed fails.
    const std::int64_t a_rows = s.ta ? s.k : s.m, a_cols = s.ta ? s.m : s.k;
    const std::int64_t b_rows = s.tb ? s.n : s.k, b_cols = s.tb ? s.k : s.n;
    lda = a_cols + 3;
    ldb = b_cols + 1;
    ldc = s.n + 2;
    a.resize(static_cast<std::size_t>(std::max<std::int64_t>(1, a_rows * lda)));
    b.resize(static_cast<std::size_t>(std::max<std::int64_t>(1, b_rows * ldb)));
    c.resize(static_cast<std::size_t>(std::max<std::int64_t>(1, s.m * ldc)));
    for (auto& v : a) v = static_cast<T>(u(gen));
    for (auto& v : b) v = static_cast<T>(u(gen));
    for (auto& v : c) v = static_cast<T>(u(gen));
  }
  T at_a(const Case& s, std::int64_t i, std::int64_t p) const { return s.ta ? a[p * lda + i] : a[i * lda + p]; }
  T at_b(const Case& s, std::int64_t p, std::int64_t j) const { return s.tb ? b[j * ldb + p] : b[p * ldb + j]; }
};

// Runs gemm_blocked and checks every element of C (and that the padding between rows is
// untouched) against long-double sums, within k roundings of the sum of |terms|.
template <typename T>
void check_case(const Case& s, std::uint32_t seed) {
  Operands<T> op(s, seed);
  std::vector<T> c = op.c;
  if (s.beta == 0.0)  // beta == 0: C must not be read, so NaN there must not come through
    for (std::int64_t i = 0; i < s.m; ++i)
      for (std::int64_t j = 0; j < s.n; ++j) c[i * op.ldc + j] = std::numeric_limits<T>::quiet_NaN();
  gemm_blocked<T>(s.ta, s.tb, s.m, s.n, s.k, T(s.alpha), op.a.data(), op.lda, op.b.data(), op.ldb, T(s.beta), c.data(),
                  op.ldc);
  const long double eps = std::numeric_limits<T>::epsilon();
  double worst = 0;  // in units of the tolerance
  std::int64_t bad = 0, bad_pad = 0;
  for (std::int64_t i = 0; i < s.m; ++i) {
    for (std::int64_t j = 0; j < op.ldc; ++j) {
      const std::size_t at = static_cast<std::size_t>(i * op.ldc + j);
      if (j >= s.n) {
        bad_pad += c[at] != op.c[at];
        continue;
      }
      long double sum = 0, mag = 0;
      for (std::int64_t p = 0; p < s.k; ++p) {
        const long double t = static_cast<long double>(op.at_a(s, i, p)) * op.at_b(s, p, j);
        sum += t;
        mag += std::fabs(t);
      }
      const long double old = s.beta == 0.0 ? 0.0L : static_cast<long double>(op.c[at]);
      const long double want = s.alpha * sum + s.beta * old;
      const long double tol = (s.k + 4) * eps * (std::fabs(s.alpha) * mag + std::fabs(s.beta * old)) + 4 * eps;
      const long double err = std::fabs(static_cast<long double>(c[at]) - want);
      if (!(err <= tol)) ++bad;  // NaN counts as bad
      worst = std::max(worst, static_cast<double>(err / tol));
    }
  }
  std::ostringstream what;
  what << (sizeof(T) == 4 ? "float" : "double") << " ta=" << s.ta << " tb=" << s.tb << " m=" << s.m << " n=" << s.n
       << " k=" << s.k << " alpha=" << s.alpha << " beta=" << s.beta << ": worst error " << worst
       << " of its tolerance";
  INFO(what.str());
  CHECK(bad == 0);
  CHECK(bad_pad == 0);
}

}  // namespace

TEST_CASE("gemm_blocked: every block edge, transpose and alpha/beta case against long double", "[kernels][gemm]") {
  const std::vector<std::int64_t> ms{1, 5, 6, 7, 13, 73};
  const std::vector<std::int64_t> ns{1, 8, 15, 16, 17, 33};
  const std::vector<std::int64_t> ks{1, 3, 255, 256, 257, 520};
  std::uint32_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::size_t i = 0; i < ms.size(); ++i) {
        // Not the full product of sizes: each m meets each n and k once across the loop.
        const std::int64_t m = ms[i], n = ns[(i + ta + 2 * tb) % ns.size()], k = ks[(i + 2 * ta + tb) % ks.size()];
        check_case<float>({ta, tb, m, n, k, 1.0, 0.0}, seed++);
        check_case<double>({ta, tb, m, n, k, 1.0, 0.0}, seed++);
        check_case<float>({ta, tb, m, n, k, -0.5, 1.0}, seed++);
        check_case<double>({ta, tb, m, n, k, 2.0, 0.25}, seed++);
      }
}

TEST_CASE("gemm_blocked: wide panels, many threads' tiles, and the degenerate cases", "[kernels][gemm]") {
  // n past one packed column panel (3072), m past one task's 72 rows, k past one block.
  check_case<float>({false, false, 150, 3100, 300, 1.0, 0.0}, 11);
  check_case<float>({true, true, 80, 3073, 40, 1.0, 1.0}, 12);
  check_case<double>({false, true, 97, 600, 700, 1.0, 0.0}, 13);
  // k == 0 and alpha == 0: C = beta C, and with beta == 0 zeros without reading C.
  for (double beta : {0.0, 3.0}) {
    std::vector<double> c{1, std::numeric_limits<double>::quiet_NaN(), 2, 4};
    if (beta != 0.0) c[1] = 5;
    std::vector<double> a{1, 2}, b{3, 4};
    gemm_blocked<double>(false, false, 2, 2, 0, 1.0, a.data(), 1, b.data(), 2, beta, c.data(), 2);
    CHECK(c == (beta == 0.0 ? std::vector<double>{0, 0, 0, 0} : std::vector<double>{3, 15, 6, 12}));
    a[0] = std::numeric_limits<double>::quiet_NaN();  // alpha == 0: A is not read (BLAS)
    std::vector<double> c2{1, 1, 1, 1};
    gemm_blocked<double>(false, false, 2, 2, 1, 0.0, a.data(), 1, b.data(), 2, beta, c2.data(), 2);
    CHECK(c2 == std::vector<double>(4, beta));
  }
}

TEST_CASE("gemm_blocked: bit-identical results whatever the thread count", "[kernels][gemm]") {
  const Case s{false, true, 200, 700, 600, 1.0, 0.0};
  Operands<float> op(s, 21);
  std::vector<float> one(op.c.size()), many(op.c.size());
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  gemm_blocked<float>(s.ta, s.tb, s.m, s.n, s.k, 1.f, op.a.data(), op.lda, op.b.data(), op.ldb, 0.f, one.data(), op.ldc);
  omp_set_num_threads(std::max(4, threads));  // more threads than cores is fine: the split is what matters
  gemm_blocked<float>(s.ta, s.tb, s.m, s.n, s.k, 1.f, op.a.data(), op.lda, op.b.data(), op.ldb, 0.f, many.data(),
                      op.ldc);
  omp_set_num_threads(threads);
  CHECK(one == many);
}
