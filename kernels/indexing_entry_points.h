// The entry points of kernels/indexing.h, the same on both devices:
// indexing.h includes this file twice, inside namespace cpu and inside namespace cuda, so that
// each is declared once.
// No #pragma once, on purpose; include indexing.h, never this file.

// dst (+)= src, element by element, through the strides.
template <typename T> void strided_copy(Stream, const StridedCopy& g, const T* src, T* dst, bool accumulate);
// y[o, j, i] = x[o, index[j], i]. An index outside [0, n) writes 1 + its position into *bad
// and that output element is 0.
template <typename T>
void index_select_forward(Stream, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y,
                          std::int64_t* bad);
// dx[o, m, i] (+)= sum over j with index[j] == m of dy[o, j, i].
template <typename T>
void index_select_backward(Stream, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx,
                           bool accumulate);
// index [outer, k, inner]: y[o, j, i] = x[o, index[o, j, i], i]; bad indices as index_select.
template <typename T>
void gather_forward(Stream, const IndexGeometry& g, const T* x, const std::int64_t* index, T* y, std::int64_t* bad);
// dx[o, m, i] (+)= sum over j with index[o, j, i] == m of dy[o, j, i].
template <typename T>
void gather_backward(Stream, const IndexGeometry& g, const T* dy, const std::int64_t* index, T* dx, bool accumulate);

// Explicitly instantiates the entry points above for the element type T: the one list
// kernels/cpu/indexing.cpp and kernels/cuda/indexing.cu share, each naming the types it has.
#define MINIDL_INSTANTIATE_INDEXING(T)                                                                                 \
  template void strided_copy<T>(Stream, const StridedCopy&, const T*, T*, bool);                                       \
  template void index_select_forward<T>(Stream, const IndexGeometry&, const T*, const std::int64_t*, T*,               \
                                        std::int64_t*);                                                                \
  template void index_select_backward<T>(Stream, const IndexGeometry&, const T*, const std::int64_t*, T*, bool);       \
  template void gather_forward<T>(Stream, const IndexGeometry&, const T*, const std::int64_t*, T*, std::int64_t*);     \
  template void gather_backward<T>(Stream, const IndexGeometry&, const T*, const std::int64_t*, T*, bool);
