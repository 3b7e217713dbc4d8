// The entry points of kernels/loss.h, the same on both devices: loss.h includes this file
// twice, inside namespace cpu and inside namespace cuda, so that each is declared once.
// No #pragma once, on purpose; include loss.h, never this file.

template <typename T>
void log_softmax_forward(Stream, std::int64_t rows, std::int64_t cols, const T* x, T* y);
// dx (+)= dy - exp(y) * sum(dy) per row, y being log_softmax's output.
template <typename T>
void log_softmax_backward(Stream, std::int64_t rows, std::int64_t cols, const T* dy, const T* y, T* dx,
                          bool accumulate);

// Writes the mean loss into *loss and the row-wise log-probabilities into logp (rows*cols) for
// backward. A target outside [0, cols) is never used as an index: the kernel writes 1 + its
// row into *bad_target (any one such row when there are several; nothing when all are valid)
// and the loss is then meaningless. The caller reports it (core/ops/device_check.h).
template <typename T>
void cross_entropy_forward(Stream, std::int64_t rows, std::int64_t cols, const T* logits, const std::int64_t* target,
                           const T* class_weight, double label_smoothing, T* logp, T* loss,
                           std::int64_t* bad_target);
// dlogits (+)= (*grad_loss) * d loss / d logits, from the saved logp. Rows with a bad target
// contribute nothing.
template <typename T>
void cross_entropy_backward(Stream, std::int64_t rows, std::int64_t cols, const T* logp, const std::int64_t* target,
                            const T* class_weight, double label_smoothing, const T* grad_loss, T* dlogits,
                            bool accumulate);

// Explicitly instantiates the entry points above for the element type T: the one list
// kernels/cpu/loss.cpp and kernels/cuda/loss.cu share, each naming the types it has.
#define MINIDL_INSTANTIATE_LOSS(T)                                                                                     \
  template void log_softmax_forward<T>(Stream, std::int64_t, std::int64_t, const T*, T*);                              \
  template void log_softmax_backward<T>(Stream, std::int64_t, std::int64_t, const T*, const T*, T*, bool);             \
  template void cross_entropy_forward<T>(Stream, std::int64_t, std::int64_t, const T*, const std::int64_t*, const T*,  \
                                         double, T*, T*, std::int64_t*);                                               \
  template void cross_entropy_backward<T>(Stream, std::int64_t, std::int64_t, const T*, const std::int64_t*, const T*, \
                                          double, const T*, T*, bool);
