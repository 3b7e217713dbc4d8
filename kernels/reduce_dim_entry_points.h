// The entry points of kernels/reduce_dim.h, the same on both devices:
// reduce_dim.h includes this file twice, inside namespace cpu and inside namespace cuda, so that
// each is declared once.
// No #pragma once, on purpose; include reduce_dim.h, never this file.

// y[j] (+)= alpha * sum of x over the reduced dims of out position j.
template <typename T>
void reduce_sum(Stream, const ReduceGeometry& g, double alpha, const T* x, T* y, bool accumulate);
// values[o, i] = max (or min) over j of x[o, j, i], indices[o, i] its first j; either output may
// be null. NaN counts as the largest (and smallest) value, as in torch.
template <typename T>
void max_dim_forward(Stream, const DimGeometry& g, bool is_min, const T* x, T* values, std::int64_t* indices);
// dx[o, j, i] (+)= (j == indices[o, i]) ? dy[o, i] : 0.
template <typename T>
void max_dim_backward(Stream, const DimGeometry& g, const T* dy, const std::int64_t* indices, T* dx, bool accumulate);
// y = softmax (or log_softmax) of x over j.
template <typename T> void softmax_forward(Stream, const DimGeometry& g, bool log, const T* x, T* y);
// From the saved output y: softmax dx = y (dy - sum dy y); log_softmax dx = dy - exp(y) sum dy.
template <typename T>
void softmax_backward(Stream, const DimGeometry& g, bool log, const T* dy, const T* y, T* dx, bool accumulate);

// Explicitly instantiates the entry points above for the element type T: the one list
// kernels/cpu/indexing.cpp and kernels/cuda/indexing.cu share, each naming the types it has.
#define MINIDL_INSTANTIATE_REDUCE_DIM(T)                                                                               \
  template void reduce_sum<T>(Stream, const ReduceGeometry&, double, const T*, T*, bool);                              \
  template void max_dim_forward<T>(Stream, const DimGeometry&, bool, const T*, T*, std::int64_t*);                     \
  template void max_dim_backward<T>(Stream, const DimGeometry&, const T*, const std::int64_t*, T*, bool);              \
  template void softmax_forward<T>(Stream, const DimGeometry&, bool, const T*, T*);                                    \
  template void softmax_backward<T>(Stream, const DimGeometry&, bool, const T*, const T*, T*, bool);
