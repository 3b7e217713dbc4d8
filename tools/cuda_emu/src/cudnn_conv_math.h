// The arithmetic of the emulated cuDNN convolutions (cudnn_conv.cpp): a checked configuration and
// the loops each algorithm runs. Every algorithm of one direction adds the same products in the
// same order (float accumulation with fused multiply-adds for FLOAT and BFLOAT16 data, double for
// DOUBLE), so they agree bit for bit; the ones with a workspace really keep their intermediate
// values there (an index table, im2col columns, per-element accumulators), so a workspace that is
// too small, not device memory, or shared with a concurrent stream is caught.
#pragma once

#include "cudnn_internal.h"

namespace emu::dnn {

enum class Dir { Forward, BackwardData, BackwardFilter };

// A convolution whose descriptors were checked together (check_conv in cudnn_conv.cpp). x, w, y
// carry the operand pointers of the call: for BackwardData y is dy and x is the output dx; for
// BackwardFilter y is dy and w is the output dw.
struct Conv {
  View x, w, y;
  int groups = 1;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  bool flip = false;  // CUDNN_CONVOLUTION: the filter is applied rotated by 180 degrees
  bool dbl = false;   // DOUBLE data and compute; otherwise float accumulation
  std::int64_t cpg() const { return x.d[1] / groups; }  // input channels per group
  std::int64_t kpg() const { return w.d[0] / groups; }  // output channels per group
};

// Bytes of workspace `algo` of direction `dir` needs for c (0 for the ones without).
std::size_t workspace_bytes(Dir dir, int algo, const Conv& c);

// Runs the algorithm on the host (inside the emulator's queued work): out = alpha * conv + beta * out.
void run_conv(Dir dir, int algo, const Conv& c, void* ws, double alpha, double beta);

}  // namespace emu::dnn
