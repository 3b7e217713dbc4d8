// The kernels of swish(x, beta) = x * sigmoid(beta * x) (Ramachandran et al., 2017; beta = 1 is
// torch's silu), on raw pointers, in the shape minidl's own kernels have (minidl/kernels/
// common.h): the stream first, so that the op's one dispatch call picks the CPU or the CUDA
// overload by the stream's type; backward takes `accumulate` (false: overwrite dx and never read
// it; true: add into it), which is what the autograd engine hands a node.
#pragma once

#include <cstdint>

#include <minidl/config.h>
#include <minidl/kernels/common.h>

namespace custom_op {

template <typename T>
void swish_forward(minidl::kernels::cpu::Stream, std::int64_t n, T beta, const T* x, T* y);
template <typename T>
void swish_backward(minidl::kernels::cpu::Stream, std::int64_t n, T beta, const T* dy, const T* x, T* dx,
                    bool accumulate);

// Only where the installed minidl has the CUDA backend: then a tensor can live on a GPU, and the
// op's dispatch asks for these (swish_cuda.cu, compiled by this project's CMakeLists.txt).
#if MINIDL_WITH_CUDA
template <typename T>
void swish_forward(minidl::kernels::cuda::Stream, std::int64_t n, T beta, const T* x, T* y);
template <typename T>
void swish_backward(minidl::kernels::cuda::Stream, std::int64_t n, T beta, const T* dy, const T* x, T* dx,
                    bool accumulate);
#endif

}  // namespace custom_op
