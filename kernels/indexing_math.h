// One element (or one row) of the kernels in indexing.h and reduce_dim.h, written once for both
// backends: the CPU and CUDA files are loops over these, so they share every index computation.
// Internal to kernels/.
#pragma once

#include <cmath>
#include <cstdint>

#include "minidl/kernels/indexing.h"
#include "minidl/kernels/pointwise_math.h"  // MINIDL_HD
#include "minidl/kernels/reduce_dim.h"

namespace minidl::kernels::detail {

// The number of elements of a shape of `rank` dimensions (host code: launch and loop sizes).
inline std::int64_t numel(int rank, const std::int64_t* shape) {
  std::int64_t n = 1;
  for (int d = 0; d < rank; ++d) n *= shape[d];
  return n;
}

template <typename T>
MINIDL_HD void put_value(T* out, std::int64_t i, T v, bool accumulate) {
  if (accumulate) out[i] += v;
  else out[i] = v;
}

template <typename T>
MINIDL_HD void strided_copy_one(const StridedCopy& g, std::int64_t i, const T* src, T* dst, bool accumulate) {
  std::int64_t so = 0, dof = 0;
  for (int d = g.rank - 1; d >= 0; --d) {
    const std::int64_t c = i % g.shape[d];
    i /= g.shape[d];
    so += c * g.src_stride[d];
    dof += c * g.dst_stride[d];
  }
  put_value(dst, dof, src[so], accumulate);
}

// Output element j of a reduce_sum: the reduced positions in row-major order.
template <typename T>
MINIDL_HD void reduce_sum_one(const ReduceGeometry& g, std::int64_t j, double alpha, const T* x, T* y,
                              bool accumulate) {
  std::int64_t base = 0, count = 1, r = j;
  for (int d = g.rank - 1; d >= 0; --d) {
    base += (r % g.kept[d]) * g.stride[d];
    r /= g.kept[d];
    count *= g.reduced[d];
  }
  double acc = 0.0;
  for (std::int64_t k = 0; k < count; ++k) {
    std::int64_t off = base, q = k;
    for (int d = g.rank - 1; d >= 0; --d) {
      off += (q % g.reduced[d]) * g.stride[d];
      q /= g.reduced[d];
    }
    acc += static_cast<double>(x[off]);
  }
  put_value(y, j, static_cast<T>(acc * alpha), accumulate);
}

// Row r = o * inner + i of max_dim_forward.
template <typename T>
MINIDL_HD void max_dim_one(const DimGeometry& g, std::int64_t r, bool is_min, const T* x, T* values,
                           std::int64_t* indices) {
  const std::int64_t o = r / g.inner, i = r % g.inner;
  const T* p = x + o * g.n * g.inner + i;
  T best = p[0];
  std::int64_t at = 0;
  for (std::int64_t j = 1; j < g.n && !(best != best); ++j) {  // a NaN wins and stays
    const T v = p[j * g.inner];
    if ((is_min ? v < best : v > best) || v != v) {
      best = v;
      at = j;
    }
  }
  if (values) values[r] = best;
  if (indices) indices[r] = at;
}

// Element e of dx [outer, n, inner].
template <typename T>
MINIDL_HD void max_dim_backward_one(const DimGeometry& g, std::int64_t e, const T* dy, const std::int64_t* indices,
                                    T* dx, bool accumulate) {
  const std::int64_t i = e % g.inner, j = (e / g.inner) % g.n, o = e / (g.inner * g.n);
  const std::int64_t r = o * g.inner + i;
  put_value(dx, e, indices[r] == j ? dy[r] : T(0), accumulate);
}

template <typename T>
MINIDL_HD void softmax_row(const DimGeometry& g, std::int64_t r, bool log, const T* x, T* y) {
  const std::int64_t o = r / g.inner, i = r % g.inner, base = o * g.n * g.inner + i;
  T m = x[base];
  for (std::int64_t j = 1; j < g.n; ++j) m = x[base + j * g.inner] > m ? x[base + j * g.inner] : m;
  double s = 0.0;
  for (std::int64_t j = 0; j < g.n; ++j) s += static_cast<double>(std::exp(x[base + j * g.inner] - m));
  if (log) {
    const T ls = static_cast<T>(std::log(s));
    for (std::int64_t j = 0; j < g.n; ++j) y[base + j * g.inner] = x[base + j * g.inner] - m - ls;
  } else {
    const T inv = static_cast<T>(1.0 / s);
    for (std::int64_t j = 0; j < g.n; ++j) y[base + j * g.inner] = std::exp(x[base + j * g.inner] - m) * inv;
  }
}

template <typename T>
MINIDL_HD void softmax_backward_row(const DimGeometry& g, std::int64_t r, bool log, const T* dy, const T* y, T* dx,
                                    bool accumulate) {
  const std::int64_t o = r / g.inner, i = r % g.inner, base = o * g.n * g.inner + i;
  double s = 0.0;
  for (std::int64_t j = 0; j < g.n; ++j) {
    const std::int64_t q = base + j * g.inner;
    s += log ? static_cast<double>(dy[q]) : static_cast<double>(dy[q]) * static_cast<double>(y[q]);
  }
  const T st = static_cast<T>(s);
  for (std::int64_t j = 0; j < g.n; ++j) {
    const std::int64_t q = base + j * g.inner;
    put_value(dx, q, log ? dy[q] - std::exp(y[q]) * st : y[q] * (dy[q] - st), accumulate);
  }
}

// y[e] = x[o, m, i] for output element e = (o, j, i) of y [outer, k, inner]; an index m outside
// [0, n) gives 0 and writes 1 + `position` (where the index was read) into *bad.
template <typename T>
MINIDL_HD void take_one(const IndexGeometry& g, std::int64_t e, std::int64_t m, std::int64_t position, const T* x,
                        T* y, std::int64_t* bad) {
  if (m < 0 || m >= g.n) {
    *bad = position + 1;
    y[e] = T(0);
    return;
  }
  const std::int64_t i = e % g.inner, o = e / (g.inner * g.k);
  y[e] = x[(o * g.n + m) * g.inner + i];
}

// Element e of y [outer, k, inner].
template <typename T>
MINIDL_HD void index_select_one(const IndexGeometry& g, std::int64_t e, const T* x, const std::int64_t* index, T* y,
                                std::int64_t* bad) {
  const std::int64_t j = (e / g.inner) % g.k;
  take_one(g, e, index[j], j, x, y, bad);
}

// Element e of dx [outer, n, inner].
template <typename T>
MINIDL_HD void index_select_backward_one(const IndexGeometry& g, std::int64_t e, const T* dy,
                                         const std::int64_t* index, T* dx, bool accumulate) {
  const std::int64_t i = e % g.inner, m = (e / g.inner) % g.n, o = e / (g.inner * g.n);
  T acc = T(0);
  for (std::int64_t j = 0; j < g.k; ++j)
    if (index[j] == m) acc += dy[(o * g.k + j) * g.inner + i];
  put_value(dx, e, acc, accumulate);
}

template <typename T>
MINIDL_HD void gather_one(const IndexGeometry& g, std::int64_t e, const T* x, const std::int64_t* index, T* y,
                          std::int64_t* bad) {
  take_one(g, e, index[e], e, x, y, bad);
}

template <typename T>
MINIDL_HD void gather_backward_one(const IndexGeometry& g, std::int64_t e, const T* dy, const std::int64_t* index,
                                   T* dx, bool accumulate) {
  const std::int64_t i = e % g.inner, m = (e / g.inner) % g.n, o = e / (g.inner * g.n);
  T acc = T(0);
  for (std::int64_t j = 0; j < g.k; ++j) {
    const std::int64_t q = (o * g.k + j) * g.inner + i;
    if (index[q] == m) acc += dy[q];
  }
  put_value(dx, e, acc, accumulate);
}

}  // namespace minidl::kernels::detail
