// log_softmax over the last dimension of a [rows, cols] matrix, and the fused softmax
// cross-entropy with PyTorch's semantics (mean reduction, optional class weights, label
// smoothing). With weights w and smoothing e over C classes, for targets y_i:
//   W    = sum_i w[y_i]
//   loss = (1-e) * sum_i w[y_i] * -logp[i,y_i] / W  +  (e/C) * sum_i sum_c w[c] * -logp[i,c] / W
// (w = 1 when absent, so W = rows), and d loss / d logits[i,j] = p[i,j] * S_i - q_i[j] where
// q_i[j] = ((1-e) w[y_i] [j==y_i] + (e/C) w[j]) / W and S_i = sum_j q_i[j].
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

namespace cpu {
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
}  // namespace cpu

namespace cuda {
template <typename T>
void log_softmax_forward(Stream, std::int64_t rows, std::int64_t cols, const T* x, T* y);
template <typename T>
void log_softmax_backward(Stream, std::int64_t rows, std::int64_t cols, const T* dy, const T* y, T* dx,
                          bool accumulate);
template <typename T>
void cross_entropy_forward(Stream, std::int64_t rows, std::int64_t cols, const T* logits, const std::int64_t* target,
                           const T* class_weight, double label_smoothing, T* logp, T* loss,
                           std::int64_t* bad_target);
template <typename T>
void cross_entropy_backward(Stream, std::int64_t rows, std::int64_t cols, const T* logp, const std::int64_t* target,
                            const T* class_weight, double label_smoothing, const T* grad_loss, T* dlogits,
                            bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
