// Output sizes of convolution and pooling, shared by both backends (floor mode, as PyTorch).
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/pool.h"

namespace minidl::kernels {

namespace {

// (size + 2 pad - extent) / stride + 1, where a kernel of `kernel` taps `dilation` apart spans
// extent = dilation (kernel - 1) + 1 inputs; or 0 when the padded input is smaller than that
// (C++ division truncates toward zero, which would turn a negative numerator into a bogus 1).
std::int64_t output_size(std::int64_t size, std::int64_t kernel, std::int64_t stride, std::int64_t pad,
                         std::int64_t dilation = 1) {
  const std::int64_t span = size + 2 * pad - (dilation * (kernel - 1) + 1);
  return span < 0 ? 0 : span / stride + 1;
}

}  // namespace

const char* conv_direction_name(ConvDirection d) {
  switch (d) {
    case ConvDirection::Forward: return "forward";
    case ConvDirection::BackwardData: return "backward-data";
    case ConvDirection::BackwardFilter: return "backward-filter";
  }
  return "?";
}

// Geometries that make no sense (a non-positive size, kernel or stride, a negative padding) are
// reported the same way as an empty output: the caller gets false and says what it was given.
bool Conv2dGeometry::finalize() {
  oh = ow = 0;
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || k <= 0 || r <= 0 || s <= 0) return false;
  if (stride_h <= 0 || stride_w <= 0 || pad_h < 0 || pad_w < 0) return false;
  if (dilation_h <= 0 || dilation_w <= 0 || groups <= 0 || c % groups != 0 || k % groups != 0) return false;
  oh = output_size(h, r, stride_h, pad_h, dilation_h);
  ow = output_size(w, s, stride_w, pad_w, dilation_w);
  return oh > 0 && ow > 0;
}

// PyTorch also refuses a padding of more than half the kernel: such a pool could have a window
// made only of padding, which has no element to win it. Refusing it here means every window of
// a finalized geometry holds at least one real element, which the kernels rely on.
bool Pool2dGeometry::finalize() {
  oh = ow = 0;
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || kh <= 0 || kw <= 0) return false;
  if (stride_h <= 0 || stride_w <= 0 || pad_h < 0 || pad_w < 0) return false;
  if (2 * pad_h > kh || 2 * pad_w > kw) return false;
  oh = output_size(h, kh, stride_h, pad_h);
  ow = output_size(w, kw, stride_w, pad_w);
  return oh > 0 && ow > 0;
}

}  // namespace minidl::kernels
