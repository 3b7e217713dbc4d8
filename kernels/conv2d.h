// 2-D convolution (cross-correlation, as in PyTorch), with groups and dilation.
// x: [n, c, h, w], weight: [k, c / groups, r, s], bias: [k], y: [n, k, oh, ow].
// Groups: input channels [g c/groups, (g+1) c/groups) feed only output channels
// [g k/groups, (g+1) k/groups); groups == c is the depthwise convolution. Dilation: tap (r, s)
// reads input (oy stride_h - pad_h + r dilation_h, ox stride_w - pad_w + s dilation_w).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "minidl/kernels/bf16.h"
#include "minidl/kernels/common.h"

namespace minidl::kernels {

struct Conv2dGeometry {
  std::int64_t n, c, h, w;   // input
  std::int64_t k, r, s;      // output channels, kernel height, kernel width
  std::int64_t stride_h, stride_w, pad_h, pad_w;
  std::int64_t oh, ow;       // output size: (h + 2 pad_h - dilation_h (r - 1) - 1) / stride_h + 1
  // Last, with defaults, so that a geometry written without them is the plain convolution.
  std::int64_t groups = 1;   // divides c and k
  std::int64_t dilation_h = 1, dilation_w = 1;
  // The precision policy's bf16 (core/precision.h): the operands (x and weight forward; dy and
  // weight, or x and dy, backward) are multiplied as bf16 values, rounded to nearest even, with
  // FP32 accumulation. On the CPU the entry points see to the rounding: a backend with bf16
  // arithmetic (oneDNN on a CPU with AVX-512 BF16) converts the operands itself, in the layout
  // reorder it runs anyway; for the others the entry point rounds them into scratch first. On
  // CUDA the operands are packed bf16 and the *_bf16 entry points run instead.
  bool bf16_operands = false;
  // CUDA's *_bf16 entry points only: the packed operands are channels-last (x and dy [n, h, w, c],
  // the weight [k, r, s, c / groups]), which cuDNN reads; else NCHW, which the implicit GEMM reads.
  // Set by the forward (cuda::conv2d_bf16_channels_last), kept by the backward node with the
  // operands it packed, so the backward runs where the forward did.
  bool channels_last = false;

  // Fills oh/ow from the rest. Returns false if the output would be empty or the rest makes no
  // sense (a non-positive size, groups that do not divide c and k, ...).
  bool finalize();
  std::int64_t c_per_group() const { return c / groups; }  // weight's dim 1
  std::int64_t k_per_group() const { return k / groups; }
  double forward_flops() const { return 2.0 * n * k * oh * ow * c_per_group() * r * s; }
  // What makes two convolutions the same shape (sizes, stride, padding, dilation, groups): the
  // key of the caches by shape (oneDNN's and cuDNN's plans, the CPU's benchmark setting).
  using ShapeKey = std::array<std::int64_t, 14>;
  ShapeKey shape_key() const {
    return {n, c, h, w, k, r, s, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups};
  }
};

enum class ConvDirection { Forward, BackwardData, BackwardFilter };
const char* conv_direction_name(ConvDirection d);  // "forward", "backward-data", "backward-filter"

// One implementation of convolution on one device: a row of that device's backend table
// (kernels/cpu/conv2d.cpp, kernels/cuda/conv2d.cu). One fallback contract for every row:
// supports() says, before anything runs, whether the backend can run this direction and
// geometry in this process (built in, its library loaded, the geometry accepted); a backend
// that says yes runs the call, and when it says no the entry point runs the device's fallback
// backend (the first row), which supports every call. Outputs follow kernels/common.h (bias may
// be null; accumulate adds into the output instead of overwriting it).
template <typename S, typename T>
struct ConvBackend {
  const char* name;
  bool (*supports)(ConvDirection, const Conv2dGeometry&);
  void (*forward)(S, const Conv2dGeometry&, const T* x, const T* weight, const T* bias, T* y);
  void (*backward_data)(S, const Conv2dGeometry&, const T* dy, const T* weight, T* dx, bool accumulate);
  void (*backward_filter)(S, const Conv2dGeometry&, const T* x, const T* dy, T* dweight, bool accumulate);
};

// supports() of a backend that runs every call (every device's fallback row, among others).
inline bool conv_supports_every_call(ConvDirection, const Conv2dGeometry&) { return true; }

// Both devices have the same switch: set_conv_backend(name) with "auto" (the device's selection
// rule, per direction and geometry) or a backend's name; the environment variables
// MINIDL_CPU_CONV and MINIDL_CUDA_CONV set the starting value. Naming a backend that cannot run
// in this process (oneDNN not loadable, a build without cuDNN) is an error that says why.
// conv_backend_for() is the backend the entry points run for a call.

namespace cpu {
template <typename T>
using ConvBackend = kernels::ConvBackend<Stream, T>;

// Each runs the backend that conv_backend_for() names.
template <typename T>
void conv2d_forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void conv2d_backward_input(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void conv2d_backward_weight(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
template <typename T>
void conv2d_backward_bias(Stream, const Conv2dGeometry& g, const T* dy, T* dbias, bool accumulate);

// The backends, fallback first (T = float: im2col, taps, onednn, reference; T = double:
// im2col, taps, reference):
//   im2col     im2col + OpenBLAS GEMM, chunked over the batch, a GEMM per group: every geometry;
//   taps       small output maps: one GEMM over the batch per output position and run of kernel
//              taps inside the image (no multiply-adds on padding); groups = 1 and dilation = 1
//              only (it declines the rest);
//   onednn     oneDNN's convolutions (grouped and dilated too), when the build found oneDNN's
//              headers (config.h: MINIDL_WITH_ONEDNN) and libdnnl.so.2 loads at run time;
//   reference  the definition as plain loops, summed in double: slow; what the others and the
//              CUDA kernels are tested against. Never chosen by auto.
// The setting (set_conv_backend, MINIDL_CPU_CONV) is "auto" (the default: a rule measured on
// AVX2 and AVX-512 machines picks per direction and geometry), a backend's name, or "benchmark":
// the first call of each direction and geometry times the backends other than reference on its
// own operands and keeps the fastest, like torch.backends.cudnn.benchmark (not bit-identical
// between runs, so opt-in).
// The setting applies to float32; float64 (the gradient checks) always runs im2col.
template <typename T>
const std::vector<ConvBackend<T>>& conv_backends();
template <typename T>
const ConvBackend<T>& find_conv_backend(const std::string& name);  // throws for an unknown name
template <typename T>
const ConvBackend<T>& conv_backend_for(ConvDirection d, const Conv2dGeometry& g);
void set_conv_backend(const std::string& name);
std::string conv_backend();  // the setting: "auto", "benchmark" or a backend's name
bool conv_backend_available(const std::string& name);
// How many times the "benchmark" setting has timed the backends in this process: once per
// (direction, geometry, bf16, thread count) key (kernels/cpu/conv2d_benchmark.cpp).
std::int64_t conv_benchmark_timed();
}  // namespace cpu

namespace cuda {
template <typename T>
using ConvBackend = kernels::ConvBackend<Stream, T>;

template <typename T>
void conv2d_forward(Stream, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y);
template <typename T>
void conv2d_backward_input(Stream, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate);
template <typename T>
void conv2d_backward_weight(Stream, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate);
template <typename T>
void conv2d_backward_bias(Stream, const Conv2dGeometry& g, const T* dy, T* dbias, bool accumulate);

// The backends, fallback first (T = float):
//   implicit_gemm  our tiled implicit GEMM (a launch per group): every geometry;
//   cudnn          cuDNN (group count and dilation on its descriptor), its algorithms found once
//                  per shape (groups and dilation are part of the shape); in builds with cuDNN.
template <typename T>
const std::vector<ConvBackend<T>>& conv_backends();
template <typename T>
const ConvBackend<T>& find_conv_backend(const std::string& name);
template <typename T>
const ConvBackend<T>& conv_backend_for(ConvDirection d, const Conv2dGeometry& g);
void set_conv_backend(const std::string& name);
std::string conv_backend();
bool conv_backend_available(const std::string& name);

// The precision policy's bf16 with packed operands (bf16.h: half the bytes of float32), FP32
// accumulation; the bias, outputs and gradients are float32. Two backends read them:
// - the implicit GEMM (g.channels_last false): NCHW operands, each widened to float in
//   registers; its results are FP32;
// - cuDNN (g.channels_last true): channels-last operands and cuDNN's bf16 convolutions (tensor
//   cores). cuDNN's legacy API writes bf16 results, so its outputs and gradients are rounded to
//   bf16 once (as under PyTorch's autocast) before they are widened into the float32 tensors, the
//   bias added and gradients accumulated in FP32.
// conv2d_bf16_channels_last says which, for a forward of g now: cuDNN when the setting (or the
// auto rule) runs g's forward there. All three directions of one convolution run on that one
// backend, since the node keeps the operands in its layout.
bool conv2d_bf16_channels_last(const Conv2dGeometry& g);
// The implicit GEMM multiplies its bf16 operands on tensor cores (mma.sync, bf16 products, FP32
// accumulation) where the GPU has them (sm_80 and later) and the build compiled them, else with
// FP32 multiply-adds on CUDA cores (the same exact products, another order of additions); and
// under allow_tf32() its float32 operands too, rounded to tf32 (as cuDNN does under that switch).
// On by default; MINIDL_CUDA_TENSOR_CORES=0 starts a process with it off.
// implicit_gemm_tensor_cores(): whether they run now (the setting, the build and this GPU).
void set_implicit_gemm_tensor_cores(bool on);
bool implicit_gemm_tensor_cores();
void conv2d_forward_bf16(Stream, const Conv2dGeometry& g, const bfloat16* x, const bfloat16* weight, const float* bias,
                         float* y);
void conv2d_backward_input_bf16(Stream, const Conv2dGeometry& g, const bfloat16* dy, const bfloat16* weight, float* dx,
                                bool accumulate);
void conv2d_backward_weight_bf16(Stream, const Conv2dGeometry& g, const bfloat16* x, const bfloat16* dy,
                                 float* dweight, bool accumulate);
}  // namespace cuda

}  // namespace minidl::kernels
