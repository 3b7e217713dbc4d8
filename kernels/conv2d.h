// 2-D convolution (cross-correlation, as in PyTorch), groups = 1, dilation = 1.
// x: [n, c, h, w], weight: [k, c, r, s], bias: [k], y: [n, k, oh, ow].
#pragma once

#include <string>

#include "minidl/kernels/common.h"

namespace minidl::kernels {

struct Conv2dGeometry {
  std::int64_t n, c, h, w;   // input
  std::int64_t k, r, s;      // output channels, kernel height, kernel width
  std::int64_t stride_h, stride_w, pad_h, pad_w;
  std::int64_t oh, ow;       // output size: (h + 2 pad_h - r) / stride_h + 1

  // Fills oh/ow from the rest. Returns false if the output would be empty.
  bool finalize();
  double forward_flops() const { return 2.0 * n * k * oh * ow * c * r * s; }
};

namespace cpu {
// Fast path: oneDNN or im2col + OpenBLAS GEMM (see ConvImpl below), threaded.
template <typename T>
void conv2d_forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void conv2d_backward_input(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void conv2d_backward_weight(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
template <typename T>
void conv2d_backward_bias(Stream, const Conv2dGeometry& g, const T* dy, T* dbias, bool accumulate);

// Which implementation the float32 fast path uses (float64 always uses im2col + GEMM):
//   Gemm: im2col + OpenBLAS GEMM, chunked over the batch.
//   Dnnl: oneDNN's convolution, when this build found oneDNN's headers and libdnnl.so.2 loads
//         at run time (dnnl_available()).
//   Taps: for small output maps, one GEMM over the batch per output position and run of kernel
//         taps that fall inside the image (no multiply-adds on padding).
//   Auto: per direction and geometry, the one measured fastest on the FER model (see
//         docs/benchmarks.md and bench_conv).
// A runtime switch, as cuda::set_conv_algo, so tests and benchmarks can compare them. The
// environment variable MINIDL_CPU_CONV=auto|gemm|dnnl|taps sets the starting value;
// set_conv_impl(Dnnl) throws when oneDNN is not available.
enum class ConvImpl { Auto, Gemm, Dnnl, Taps };
void set_conv_impl(ConvImpl impl);
ConvImpl conv_impl();
bool dnnl_available();
// Whether this build compiled the oneDNN path, and why dnnl_available() is false ("" when it is
// true). Built in but not loadable is reported once on stderr at the first use, and fails a test.
bool dnnl_built();
std::string dnnl_unavailable_reason();

// Reference: the definition as plain loops. Slow; for tests and CUDA parity only.
namespace ref {
template <typename T>
void conv2d_forward(const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void conv2d_backward_input(const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void conv2d_backward_weight(const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
}  // namespace ref
}  // namespace cpu

namespace cuda {
// Which implementation the CUDA conv entry points use (a runtime switch, so tests and
// benchmarks can compare them). Default: cuDNN when built with it, else our implicit GEMM.
enum class ConvAlgo { Cudnn, ImplicitGemm };
void set_conv_algo(ConvAlgo a);
ConvAlgo conv_algo();

template <typename T>
void conv2d_forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void conv2d_backward_input(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void conv2d_backward_weight(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
template <typename T>
void conv2d_backward_bias(Stream, const Conv2dGeometry& g, const T* dy, T* dbias, bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
