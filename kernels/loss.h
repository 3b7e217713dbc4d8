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
void log_softmax_forward(std::int64_t rows, std::int64_t cols, const T* x, T* y);
// dx (+)= dy - exp(y) * sum(dy) per row, y being log_softmax's output.
template <typename T>
void log_softmax_backward(std::int64_t rows, std::int64_t cols, const T* dy, const T* y, T* dx, bool accumulate);

// Returns the loss; writes the row-wise log-probabilities into logp (rows*cols) for backward.
// Throws minidl::Error if a target is outside [0, cols).
template <typename T>
double cross_entropy_forward(std::int64_t rows, std::int64_t cols, const T* logits, const std::int64_t* target,
                             const T* class_weight, double label_smoothing, T* logp);
// dlogits (+)= grad_loss * d loss / d logits, from the saved logp.
template <typename T>
void cross_entropy_backward(std::int64_t rows, std::int64_t cols, const T* logp, const std::int64_t* target,
                            const T* class_weight, double label_smoothing, double grad_loss, T* dlogits,
                            bool accumulate);
}  // namespace cpu

namespace cuda {
void log_softmax_forward(std::int64_t rows, std::int64_t cols, const float* x, float* y, Stream stream);
void log_softmax_backward(std::int64_t rows, std::int64_t cols, const float* dy, const float* y, float* dx,
                          bool accumulate, Stream stream);
// The loss lands in *loss (device memory) so that training never waits on the host.
// Targets outside [0, cols) set *error_flag (device int) to 1.
void cross_entropy_forward(std::int64_t rows, std::int64_t cols, const float* logits, const std::int64_t* target,
                           const float* class_weight, double label_smoothing, float* logp, float* loss,
                           int* error_flag, Stream stream);
// grad_loss is a device scalar (the upstream gradient).
void cross_entropy_backward(std::int64_t rows, std::int64_t cols, const float* logp, const std::int64_t* target,
                            const float* class_weight, double label_smoothing, const float* grad_loss,
                            float* dlogits, bool accumulate, Stream stream);
}  // namespace cuda

}  // namespace minidl::kernels
