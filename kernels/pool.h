// Pooling over NCHW planes: max pooling with padding (padded cells never win), average pooling,
// and adaptive average pooling (PyTorch's start = floor(i*h/oh), end = ceil((i+1)*h/oh) windows).
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

struct Pool2dGeometry {
  std::int64_t n, c, h, w;
  std::int64_t kh, kw, stride_h, stride_w, pad_h, pad_w;
  std::int64_t oh, ow;

  // Fills oh/ow (floor mode). Returns false if the output would be empty.
  bool finalize();
};

namespace cpu {
#include "minidl/kernels/pool_entry_points.h"
}  // namespace cpu

namespace cuda {
#include "minidl/kernels/pool_entry_points.h"
}  // namespace cuda

}  // namespace minidl::kernels
