// What every kernel header shares. kernels/ knows nothing of Tensor or autograd: each op family
// has one header declaring its CPU entry points (namespace cpu, float and double) and its CUDA
// entry points (namespace cuda, float, defined only in builds with MINIDL_WITH_CUDA) side by
// side, so a reader sees both implementations of an op in one place.
//
// Conventions, the same in every header:
// - Tensors are dense, contiguous, row-major (NCHW for images). Sizes are int64_t.
// - A backward kernel's `accumulate` flag: false means it overwrites its output and never reads
//   what was there (so the caller may pass uninitialised memory); true means it adds into it.
//   The autograd engine relies on this to avoid both a zero-fill and a separate add.
// - A null pointer for an optional input (a bias) means "absent"; a null pointer for an output
//   gradient means "not needed", and the kernel skips that work.
// - CUDA entry points take the stream to run on and never synchronise.
#pragma once

#include <cstdint>

struct CUstream_st;  // cudaStream_t without the CUDA headers, so CPU-only users never need them

namespace minidl::kernels {

using Stream = CUstream_st*;

}  // namespace minidl::kernels
