// What every kernel header shares. kernels/ knows nothing of Tensor or autograd: each op family
// has one header, kernels/<family>.h, for its CPU entry points (namespace cpu) and its CUDA entry
// points (namespace cuda, defined only in builds with MINIDL_WITH_CUDA). The entry points both
// devices have are written once, in kernels/<family>_entry_points.h, which the family header
// includes inside namespace cpu and again inside namespace cuda (C++ cannot declare one function
// template for two namespaces otherwise); a device's own extras sit beside that include.
//
// One shape on both devices, so that core/ops names each kernel once (core/ops/dispatch.h):
// - The first argument is the stream the kernel runs on: cpu::Stream (empty: the work runs on
//   the calling thread and its OpenMP team, and is finished when the call returns) or
//   cuda::Stream (work is queued on it; a kernel never synchronises). The stream's type picks the
//   namespace, so core calls `relu_forward(s, ...)` unqualified and C++'s argument-dependent
//   lookup finds cpu::relu_forward or cuda::relu_forward.
// - The element type is a template parameter T on both sides, deduced from the pointers, and
//   explicitly instantiated in the .cpp / .cu for the types that backend has: float and double
//   on the CPU, float on CUDA. Adding an element type to one kernel (bf16 on CUDA, say) is local:
//   one instantiation line in that kernel's file and that type in its op's dispatch list.
//   T is deduced from every pointer argument, so pass typed pointers: a bare nullptr deduces
//   nothing (write static_cast<T*>(nullptr), core's ptr<T>(tensor), or name T: f<float>(...)).
//
// Conventions, the same in every header:
// - Tensors are dense, contiguous, row-major (NCHW for images). Sizes are int64_t.
// - A backward kernel's `accumulate` flag: false means it overwrites its output and never reads
//   what was there (so the caller may pass uninitialised memory); true means it adds into it.
//   The autograd engine relies on this to avoid both a zero-fill and a separate add.
// - A null pointer for an optional input (a bias) means "absent"; a null pointer for an output
//   gradient means "not needed", and the kernel skips that work.
// - Scalars a training step produces (a loss, a norm, the upstream gradient of a loss) are read
//   and written through pointers into the tensor's memory, never passed by value: on a GPU that
//   keeps the host from waiting for the device in the middle of a step.
#pragma once

#include <cstdint>

struct CUstream_st;  // cudaStream_t without the CUDA headers, so CPU-only users never need them

namespace minidl::kernels {

namespace cpu {
struct Stream {};
}  // namespace cpu

namespace cuda {
struct Stream {
  CUstream_st* handle = nullptr;
};
}  // namespace cuda

// n contiguous elements: one tensor of a multi-tensor kernel (a global norm, gradient clipping).
template <typename T>
struct Span {
  T* data;
  std::int64_t n;
};

}  // namespace minidl::kernels
