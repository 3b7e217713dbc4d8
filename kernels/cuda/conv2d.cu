// Convolution on the GPU: the table of backends (conv2d_implicit_gemm.cu, and cuDNN through
// conv2d_cudnn.cpp), which one runs a call (the setting, and the auto rule), the entry points
// core/ops calls (float32, and packed bf16 for the implicit GEMM and cuDNN), and the bias kernels.
#include <climits>
#include <cstring>
#include <string>

#include "minidl/base/error.h"
#include "minidl/config.h"
#include "minidl/kernels/bf16.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/kernels/conv2d_table.h"
#include "minidl/kernels/cuda/conv2d_backends.h"
#include "minidl/kernels/cuda/cudnn_ops.h"
#include "minidl/kernels/cuda/launch.cuh"

namespace minidl::kernels::cuda {

using detail::grid_for;
using detail::kBlock;
using detail::native;

namespace {

// dbias[k] (+)= sum over images and pixels of dy[img, k, :]: one block per channel, fixed order.
template <bool Accumulate>
__global__ void conv_bias_grad_kernel(std::int64_t n, std::int64_t k, std::int64_t pq, const float* dy, float* dbias) {
  __shared__ float scratch[32];
  const std::int64_t ch = blockIdx.x, count = n * pq;
  float acc = 0.f;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const std::int64_t img = i / pq, pix = i - img * pq;
    acc += dy[(img * k + ch) * pq + pix];
  }
  acc = detail::block_sum(acc, scratch);
  if (threadIdx.x == 0) dbias[ch] = Accumulate ? dbias[ch] + acc : acc;
}

#if MINIDL_WITH_CUDNN
// y[img, k, :] += bias[k], after cuDNN (the implicit GEMM fuses the bias into its epilogue).
__global__ void add_channel_bias_kernel(std::int64_t total, std::int64_t k, std::int64_t pq, const float* bias,
                                        float* y) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < total;
       i += std::int64_t(gridDim.x) * blockDim.x)
    y[i] += bias[(i / pq) % k];
}

// cuDNN as a row of the table. It accepts every geometry of a build with cuDNN.
namespace cudnn {
void forward(Stream s, const Conv2dGeometry& g, const float* x, const float* weight, const float* bias, float* y) {
  const std::int64_t total = g.n * g.k * g.oh * g.ow;
  if (total == 0) return;
  detail::cudnn_conv2d_forward(g, x, weight, y, native(s));
  if (!bias) return;
  add_channel_bias_kernel<<<grid_for(total), kBlock, 0, native(s)>>>(total, g.k, g.oh * g.ow, bias, y);
  CUDA_LAUNCH_CHECK("add_channel_bias_kernel");
}
void backward_data(Stream s, const Conv2dGeometry& g, const float* dy, const float* weight, float* dx,
                   bool accumulate) {
  if (g.n * g.c * g.h * g.w == 0) return;
  detail::cudnn_conv2d_backward_input(g, dy, weight, dx, accumulate, native(s));
}
void backward_filter(Stream s, const Conv2dGeometry& g, const float* x, const float* dy, float* dweight,
                     bool accumulate) {
  if (g.k * g.c * g.r * g.s == 0) return;
  detail::cudnn_conv2d_backward_weight(g, x, dy, dweight, accumulate, native(s));
}

// The bf16 policy's convolutions through cuDNN: cuDNN's bf16 result (channels-last) widened into
// the float32 NCHW output in one pass, which adds the bias (forward) or accumulates (backward).
void forward_bf16(Stream s, const Conv2dGeometry& g, const bfloat16* x, const bfloat16* weight, const float* bias,
                  float* y) {
  if (g.n * g.k * g.oh * g.ow == 0) return;
  const bfloat16* out = detail::cudnn_conv2d_forward_bf16(g, x, weight, native(s));
  from_bfloat16_channels_last(s, g.n, g.k, g.oh * g.ow, out, bias, y, false);
}
void backward_data_bf16(Stream s, const Conv2dGeometry& g, const bfloat16* dy, const bfloat16* weight, float* dx,
                        bool accumulate) {
  if (g.n * g.c * g.h * g.w == 0) return;
  const bfloat16* out = detail::cudnn_conv2d_backward_input_bf16(g, dy, weight, native(s));
  from_bfloat16_channels_last(s, g.n, g.c, g.h * g.w, out, nullptr, dx, accumulate);
}
void backward_filter_bf16(Stream s, const Conv2dGeometry& g, const bfloat16* x, const bfloat16* dy, float* dweight,
                          bool accumulate) {
  if (g.k * g.c * g.r * g.s == 0) return;
  const bfloat16* out = detail::cudnn_conv2d_backward_weight_bf16(g, x, dy, native(s));
  // [k, r, s, c / groups] back to [k, c / groups, r, s]: the same widening with n = k.
  from_bfloat16_channels_last(s, g.k, g.c_per_group(), g.r * g.s, out, nullptr, dweight, accumulate);
}
}  // namespace cudnn
#endif

// Channels-last operands are cuDNN's; a build without it never packs them (channels_last is
// only set where conv2d_bf16_channels_last said so).
void check_bf16_layout(const Conv2dGeometry& g) {
  MINIDL_CHECK(!g.channels_last || MINIDL_WITH_CUDNN,
               "conv2d (bf16): channels-last operands need cuDNN, which this build of minidl lacks");
}

template <typename T>
std::vector<ConvBackend<T>> make_table() {
  std::vector<ConvBackend<T>> t = {implicit_gemm::backend<T>()};
#if MINIDL_WITH_CUDNN
  t.push_back({"cudnn", conv_supports_every_call, cudnn::forward, cudnn::backward_data, cudnn::backward_filter});
#endif
  return t;
}

// The auto rule: cuDNN wherever it runs (it is the bar our implicit GEMM is measured against in
// bench_conv), else the implicit GEMM. No GPU figure has been measured for this project yet, so
// there is no threshold to keep here.
const char* choose(ConvDirection, const Conv2dGeometry&) { return MINIDL_WITH_CUDNN ? "cudnn" : "implicit_gemm"; }

const char* checked_name(const char* name, const char* what) {
  if (std::strcmp(name, conv_table::kAuto) == 0) return conv_table::kAuto;
  if (const ConvBackend<float>* b = conv_table::find(conv_backends<float>(), name)) return b->name;
  if (std::strcmp(name, "cudnn") == 0)
    MINIDL_FAIL(what, "'cudnn': this build of minidl has no cuDNN (configure with cuDNN, or use implicit_gemm)");
  MINIDL_FAIL(what, "'", name, "': expected one of ", conv_table::names(conv_backends<float>()));
}

conv_table::Setting& setting() {
  static conv_table::Setting s("MINIDL_CUDA_CONV", checked_name);
  return s;
}

}  // namespace

template <typename T>
const std::vector<ConvBackend<T>>& conv_backends() {
  static const std::vector<ConvBackend<T>> table = make_table<T>();
  return table;
}

template <typename T>
const ConvBackend<T>& find_conv_backend(const std::string& name) {
  const ConvBackend<T>* b = conv_table::find(conv_backends<T>(), name.c_str());
  MINIDL_CHECK(b, "conv2d: no CUDA convolution backend '", name, "' in this build");
  return *b;
}

bool conv_backend_available(const std::string& name) {
  return conv_table::find(conv_backends<float>(), name.c_str()) != nullptr;
}

void set_conv_backend(const std::string& name) { setting().set(name); }

std::string conv_backend() { return setting().get(); }

template <typename T>
const ConvBackend<T>& conv_backend_for(ConvDirection d, const Conv2dGeometry& g) {
  return conv_table::row_for(conv_backends<T>(), setting().get(), choose, d, g);
}

template <typename T>
void conv2d_forward(Stream s, const Conv2dGeometry& g, const T* x, const T* weight, const T* bias, T* y) {
  conv_backend_for<T>(ConvDirection::Forward, g).forward(s, g, x, weight, bias, y);
}

template <typename T>
void conv2d_backward_input(Stream s, const Conv2dGeometry& g, const T* dy, const T* weight, T* dx, bool accumulate) {
  conv_backend_for<T>(ConvDirection::BackwardData, g).backward_data(s, g, dy, weight, dx, accumulate);
}

template <typename T>
void conv2d_backward_weight(Stream s, const Conv2dGeometry& g, const T* x, const T* dy, T* dweight, bool accumulate) {
  conv_backend_for<T>(ConvDirection::BackwardFilter, g).backward_filter(s, g, x, dy, dweight, accumulate);
}

template <typename T>
void conv2d_backward_bias(Stream stream, const Conv2dGeometry& g, const T* dy, T* dbias, bool accumulate) {
  if (g.k <= 0) return;
  MINIDL_CHECK(g.k <= INT_MAX, "conv2d_backward_bias (CUDA): too many channels");
  const unsigned blocks = static_cast<unsigned>(g.k);
  if (accumulate)
    conv_bias_grad_kernel<true><<<blocks, kBlock, 0, native(stream)>>>(g.n, g.k, g.oh * g.ow, dy, dbias);
  else
    conv_bias_grad_kernel<false><<<blocks, kBlock, 0, native(stream)>>>(g.n, g.k, g.oh * g.ow, dy, dbias);
  CUDA_LAUNCH_CHECK("conv_bias_grad_kernel");
}

bool conv2d_bf16_channels_last(const Conv2dGeometry& g) {
  return MINIDL_WITH_CUDNN && std::strcmp(conv_backend_for<float>(ConvDirection::Forward, g).name, "cudnn") == 0;
}

void set_implicit_gemm_tensor_cores(bool on) { implicit_gemm::set_tensor_cores(on); }
bool implicit_gemm_tensor_cores() { return implicit_gemm::tensor_cores_run(); }

void conv2d_forward_bf16(Stream s, const Conv2dGeometry& g, const bfloat16* x, const bfloat16* weight, const float* bias,
                         float* y) {
  check_bf16_layout(g);
#if MINIDL_WITH_CUDNN
  if (g.channels_last) return cudnn::forward_bf16(s, g, x, weight, bias, y);
#endif
  implicit_gemm::forward_bf16(s, g, x, weight, bias, y);
}

void conv2d_backward_input_bf16(Stream s, const Conv2dGeometry& g, const bfloat16* dy, const bfloat16* weight, float* dx,
                                bool accumulate) {
  check_bf16_layout(g);
#if MINIDL_WITH_CUDNN
  if (g.channels_last) return cudnn::backward_data_bf16(s, g, dy, weight, dx, accumulate);
#endif
  implicit_gemm::backward_data_bf16(s, g, dy, weight, dx, accumulate);
}

void conv2d_backward_weight_bf16(Stream s, const Conv2dGeometry& g, const bfloat16* x, const bfloat16* dy,
                                 float* dweight, bool accumulate) {
  check_bf16_layout(g);
#if MINIDL_WITH_CUDNN
  if (g.channels_last) return cudnn::backward_filter_bf16(s, g, x, dy, dweight, accumulate);
#endif
  implicit_gemm::backward_filter_bf16(s, g, x, dy, dweight, accumulate);
}

#define MINIDL_INSTANTIATE(T)                                                                                          \
  template const std::vector<ConvBackend<T>>& conv_backends<T>();                                                      \
  template const ConvBackend<T>& find_conv_backend<T>(const std::string&);                                             \
  template const ConvBackend<T>& conv_backend_for<T>(ConvDirection, const Conv2dGeometry&);                            \
  template void conv2d_forward<T>(Stream, const Conv2dGeometry&, const T*, const T*, const T*, T*);                    \
  template void conv2d_backward_input<T>(Stream, const Conv2dGeometry&, const T*, const T*, T*, bool);                 \
  template void conv2d_backward_weight<T>(Stream, const Conv2dGeometry&, const T*, const T*, T*, bool);                \
  template void conv2d_backward_bias<T>(Stream, const Conv2dGeometry&, const T*, T*, bool);
MINIDL_INSTANTIATE(float)
#undef MINIDL_INSTANTIATE

}  // namespace minidl::kernels::cuda
