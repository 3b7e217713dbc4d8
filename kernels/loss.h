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
#include "minidl/kernels/loss_entry_points.h"
}  // namespace cpu

namespace cuda {
#include "minidl/kernels/loss_entry_points.h"
}  // namespace cuda

}  // namespace minidl::kernels
