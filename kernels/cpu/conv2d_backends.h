// The CPU convolution backends, one file each. Every file ends with its row of the table (the
// ConvBackend of kernels/conv2d.h: name, supports, forward, backward-data, backward-filter);
// conv2d.cpp lists the rows and picks one per call. Internal to kernels/cpu.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "minidl/kernels/conv2d.h"

namespace minidl::kernels::cpu {

// conv2d_im2col.cpp: im2col + GEMM, every geometry, float and double; the fallback.
namespace im2col { template <typename T> ConvBackend<T> backend(); }
// conv2d_taps.cpp: GEMMs per output position and run of taps, float and double; groups = 1 and
// dilation = 1 only (supports() says no to the rest).
namespace taps { template <typename T> ConvBackend<T> backend(); }
// conv2d_onednn.cpp: oneDNN, float; supports() says which calls (it builds and caches the plan).
namespace onednn {
ConvBackend<float> backend();
std::string unavailable_reason();  // why it cannot run here ("" when it can); said once on stderr
// Whether a call with g.bf16_operands runs oneDNN's bf16 kernels (else its FP32 ones): this CPU
// has bf16 arithmetic and oneDNN a bf16 kernel for the geometry other than reference loops.
bool runs_bf16(ConvDirection, const Conv2dGeometry&);
}
// conv2d_ref.cpp: the definition as plain loops summed in double, every geometry, float and double.
namespace ref { template <typename T> ConvBackend<T> backend(); }

// conv2d_benchmark.cpp: the "benchmark" setting's choices, one per direction, geometry, bf16 flag
// and thread count. chosen() is the row kept for a call's key, or null before its first call;
// choose() times `trial` (the call, writing into scratch) on every candidate row and keeps the
// fastest; timed() counts its timing rounds so far in this process (one per key, unless two
// threads time the same key at once).
namespace benchmark {
const ConvBackend<float>* chosen(ConvDirection, const Conv2dGeometry&);
const ConvBackend<float>& choose(ConvDirection, const Conv2dGeometry&,
                                 const std::function<void(const ConvBackend<float>&)>& trial);
std::int64_t timed();
}

}  // namespace minidl::kernels::cpu
