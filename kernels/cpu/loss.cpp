// log_softmax and softmax cross-entropy, PyTorch's semantics (see loss.h for the formulas).
// Rows are short (7 classes for FER), so a row is one thread's work and sums are in double.
#include "minidl/kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

namespace {

using detail::kParallelGrain;

bool valid_target(std::int64_t t, std::int64_t cols) { return t >= 0 && t < cols; }

template <typename T>
double weight_of(const T* class_weight, std::int64_t c) {
  return class_weight ? static_cast<double>(class_weight[c]) : 1.0;
}

// W = sum_i w[y_i], the normaliser of the mean reduction, over the rows with a valid target.
template <typename T>
double total_weight(std::int64_t rows, std::int64_t cols, const std::int64_t* target, const T* class_weight) {
  double total = 0.0;
  for (std::int64_t i = 0; i < rows; ++i)
    if (valid_target(target[i], cols)) total += weight_of(class_weight, target[i]);
  return total;
}

}  // namespace

// y = x - (max + log sum exp(x - max)): shifting by the row's max keeps exp from overflowing.
template <typename T>
void log_softmax_forward(Stream, std::int64_t rows, std::int64_t cols, const T* x, T* y) {
  MINIDL_CPU_PROFILE("log_softmax_forward");
  if (cols <= 0) return;
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain)
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* in = x + i * cols;
    T* out = y + i * cols;
    double max = static_cast<double>(in[0]);
    for (std::int64_t j = 1; j < cols; ++j) max = std::max(max, static_cast<double>(in[j]));
    double sum = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) sum += std::exp(static_cast<double>(in[j]) - max);
    const double lse = max + std::log(sum);
    for (std::int64_t j = 0; j < cols; ++j) out[j] = static_cast<T>(static_cast<double>(in[j]) - lse);
  }
}

template <typename T>
void log_softmax_backward(Stream, std::int64_t rows, std::int64_t cols, const T* dy, const T* y, T* dx,
                          bool accumulate) {
  MINIDL_CPU_PROFILE("log_softmax_backward");
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain)
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* g = dy + i * cols;
    const T* out = y + i * cols;
    T* d = dx + i * cols;
    double sum = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) sum += static_cast<double>(g[j]);
    for (std::int64_t j = 0; j < cols; ++j) {
      const double v = static_cast<double>(g[j]) - std::exp(static_cast<double>(out[j])) * sum;
      d[j] = static_cast<T>(accumulate ? static_cast<double>(d[j]) + v : v);
    }
  }
}

template <typename T>
void cross_entropy_forward(Stream s, std::int64_t rows, std::int64_t cols, const T* logits,
                           const std::int64_t* target, const T* class_weight, double label_smoothing, T* logp, T* loss,
                           std::int64_t* bad_target) {
  MINIDL_CPU_PROFILE("cross_entropy_forward");
  // Before any target is used as an index: a wrong label is reported, never an out-of-bounds read.
  for (std::int64_t i = 0; i < rows; ++i)
    if (!valid_target(target[i], cols)) {
      *bad_target = i + 1;
      *loss = std::numeric_limits<T>::quiet_NaN();
      return;
    }
  log_softmax_forward(s, rows, cols, logits, logp);
  // Summed in row order on one thread: the loss of a batch is the same whatever the threads.
  double nll = 0.0, smooth = 0.0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* lp = logp + i * cols;
    nll -= weight_of(class_weight, target[i]) * static_cast<double>(lp[target[i]]);
    if (label_smoothing != 0.0)
      for (std::int64_t c = 0; c < cols; ++c) smooth -= weight_of(class_weight, c) * static_cast<double>(lp[c]);
  }
  // W == 0 (every target has weight 0) gives NaN, as in PyTorch.
  const double W = total_weight(rows, cols, target, class_weight);
  *loss = static_cast<T>((1.0 - label_smoothing) * nll / W +
                         label_smoothing / static_cast<double>(cols) * smooth / W);
}

// d loss / d logits[i,j] = p[i,j] * S_i - q_i[j], with q_i[j] the weight row i's loss puts on
// class j (see loss.h) and S_i their sum.
template <typename T>
void cross_entropy_backward(Stream, std::int64_t rows, std::int64_t cols, const T* logp, const std::int64_t* target,
                            const T* class_weight, double label_smoothing, const T* grad_loss_ptr, T* dlogits,
                            bool accumulate) {
  MINIDL_CPU_PROFILE("cross_entropy_backward");
  const double grad_loss = static_cast<double>(*grad_loss_ptr);
  const double W = total_weight(rows, cols, target, class_weight);
  double weight_sum = 0.0;  // sum_c w[c]
  for (std::int64_t c = 0; c < cols; ++c) weight_sum += weight_of(class_weight, c);
  const double hard = (1.0 - label_smoothing) / W;                         // times w[y_i] at j == y_i
  const double soft = label_smoothing / static_cast<double>(cols) / W;    // times w[j] at every j
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain)
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* lp = logp + i * cols;
    T* d = dlogits + i * cols;
    const std::int64_t y = target[i];
    const bool ok = valid_target(y, cols);  // a bad row's loss was reported; it adds nothing
    const double S = ok ? hard * weight_of(class_weight, y) + soft * weight_sum : 0.0;
    for (std::int64_t j = 0; j < cols; ++j) {
      double q = ok ? soft * weight_of(class_weight, j) : 0.0;
      if (j == y) q += hard * weight_of(class_weight, y);
      const double v = grad_loss * (std::exp(static_cast<double>(lp[j])) * S - q);
      d[j] = static_cast<T>(accumulate ? static_cast<double>(d[j]) + v : v);
    }
  }
}

MINIDL_INSTANTIATE_LOSS(float)
MINIDL_INSTANTIATE_LOSS(double)

}  // namespace minidl::kernels::cpu
