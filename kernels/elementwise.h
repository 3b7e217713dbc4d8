// Elementwise ops and whole-buffer reductions over n contiguous elements.
#pragma once

#include "minidl/kernels/common.h"

namespace minidl::kernels {

namespace cpu {
#include "minidl/kernels/elementwise_entry_points.h"
// CPU only: conversions between element types (float <-> double, and int64 -> float).
template <typename From, typename To> void convert(Stream, std::int64_t n, const From* x, To* y);
}  // namespace cpu

namespace cuda {
#include "minidl/kernels/elementwise_entry_points.h"
}  // namespace cuda

}  // namespace minidl::kernels
