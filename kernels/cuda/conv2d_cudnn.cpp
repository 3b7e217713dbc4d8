// Convolution through cuDNN: descriptors built and algorithms chosen once per shape (and per
// setting of allow_tf32 / deterministic, and per precision: float32 NCHW, or the bf16 policy's
// channels-last bf16), then cached in the device's context. By default the
// algorithms are timed on the real data (cudnnFind*AlgorithmEx); with deterministic() on they
// come from cuDNN's heuristics (cudnnGet*Algorithm_v7), so every run picks the same ones.
#include "minidl/config.h"

#if MINIDL_WITH_CUDNN

#include <algorithm>
#include <climits>
#include <string>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/context.h"
#include "minidl/kernels/cuda/cudnn_cache.h"
#include "minidl/kernels/cuda/cudnn_ops.h"
#include "minidl/kernels/runtime.h"

namespace minidl::kernels::cuda::detail {

namespace {

// cudnnFind* may try algorithms that need this much scratch (or a quarter of free memory, if
// less); the one it picks usually needs far less, and only that much stays in the workspace.
constexpr std::size_t kFindWorkspaceLimit = std::size_t(256) << 20;

int to_int(std::int64_t v) {
  MINIDL_CHECK(v >= 0 && v <= INT_MAX, "conv2d (cuDNN): size ", v, " does not fit cuDNN's 32-bit int");
  return static_cast<int>(v);
}

std::string shape_text(const Conv2dGeometry& g) {
  return ::minidl::detail::str("x [", g.n, ", ", g.c, ", ", g.h, ", ", g.w, "], weight [", g.k, ", ", g.c_per_group(),
                               ", ", g.r, ", ", g.s, "], stride ", g.stride_h, "x", g.stride_w, ", padding ", g.pad_h,
                               "x", g.pad_w, ", dilation ", g.dilation_h, "x", g.dilation_w, ", groups ", g.groups);
}

// Device memory for the duration of an algorithm search only (the first call of a shape).
class Scratch {
 public:
  Scratch(std::size_t bytes, cudaStream_t s)
      : stream_(s), ptr_(bytes ? kernels::cuda::malloc(bytes) : nullptr), bytes_(bytes) {}
  ~Scratch() {
    if (!ptr_) return;
    // cudnnFind* has finished its launches by now, but make sure before the memory goes.
    cudaStreamSynchronize(stream_);
    try {
      kernels::cuda::free(ptr_);
    } catch (...) {
      // Only a broken context fails here; the next checked call will report it.
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return ptr_; }
  std::size_t size() const { return bytes_; }

 private:
  cudaStream_t stream_;
  void* ptr_;
  std::size_t bytes_;
};

std::size_t find_workspace_limit() {
  std::size_t free_bytes = 0, total_bytes = 0;
  kernels::cuda::mem_info(&free_bytes, &total_bytes);
  return std::min(kFindWorkspaceLimit, free_bytes / 4);
}

// The first result that obeys the switches: it succeeded, it is deterministic if that was
// asked for, it uses tensor-core math only where that is allowed (TF32 for float32 when
// allow_tf32; always for bf16, whose tensor-core products are exact), and its workspace fits the
// limit. cuDNN sorts the results fastest first (measured by Find, predicted by Get_v7).
template <typename Perf>
const Perf* pick(const Perf* perf, int count, bool tensor_ops, bool deterministic, std::size_t workspace_limit) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (perf[i].memory > workspace_limit) continue;
    if (deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    if (!tensor_ops &&
        (perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    return &perf[i];
  }
  return nullptr;
}

// Strict FP32 runs every algorithm with FMA math only; where tensor cores are allowed, each
// algorithm runs with the math type it was timed with.
cudnnMathType_t math_for(cudnnMathType_t found, bool tensor_ops) { return tensor_ops ? found : CUDNN_FMA_MATH; }

[[noreturn]] void no_algorithm(const char* direction, const Conv2dGeometry& g, bool tf32, bool deterministic,
                               bool bf16) {
  throw CudnnError(::minidl::detail::str(
      "conv2d ", direction, bf16 ? " (cuDNN, bf16)" : " (cuDNN)", ": no algorithm for ", shape_text(g),
      " satisfies the switches (allow_tf32=", tf32, ", deterministic=", deterministic,
      "); use set_conv_backend(\"implicit_gemm\") (or MINIDL_CUDA_CONV=implicit_gemm) for this shape"));
}

// The numerics a plan is made for. bf16: bf16 tensors in channels-last order (NHWC; the filter
// [k, r, s, c / groups]) with FP32 compute, cuDNN's PSEUDO_BFLOAT16 configuration, in which the
// output is bf16 too; tensor cores are always allowed for it, so allow_tf32 plays no part.
struct Numerics {
  bool tf32, deterministic, bf16;
  bool tensor_ops() const { return tf32 || bf16; }
};

Numerics numerics(bool bf16) {
  return {bf16 ? false : kernels::cuda::allow_tf32(), kernels::cuda::deterministic(), bf16};
}

ConvPlan& plan_for(Context& ctx, const Conv2dGeometry& g, const Numerics& num) {
  const ConvKey key{g.shape_key(),
                    num.tf32,
                    num.deterministic,
                    num.bf16};
  std::lock_guard<std::mutex> lock(ctx.mutex());
  auto& cache = ctx.cudnn_cache().conv;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;

  auto plan = std::make_unique<ConvPlan>();
  const cudnnTensorFormat_t format = num.bf16 ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  const cudnnDataType_t type = num.bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  // The sizes are given as n, c, h, w whatever the format; the format says the memory order.
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x.get(), format, type, to_int(g.n), to_int(g.c), to_int(g.h),
                                         to_int(g.w)));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y.get(), format, type, to_int(g.n), to_int(g.k), to_int(g.oh),
                                         to_int(g.ow)));
  // The filter is [k, c / groups, r, s] (NCHW) or [k, r, s, c / groups] (NHWC); the group count
  // goes on the convolution.
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w.get(), type, format, to_int(g.k), to_int(g.c_per_group()),
                                         to_int(g.r), to_int(g.s)));
  const cudnnMathType_t math = num.bf16 ? CUDNN_TENSOR_OP_MATH : num.tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  for (cudnnConvolutionDescriptor_t d : {plan->fwd.conv.get(), plan->bwd_data.conv.get(), plan->bwd_filter.conv.get()}) {
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, to_int(g.pad_h), to_int(g.pad_w), to_int(g.stride_h),
                                                to_int(g.stride_w), to_int(g.dilation_h), to_int(g.dilation_w),
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionGroupCount(d, to_int(g.groups)));
    CUDNN_CHECK(cudnnSetConvolutionMathType(d, math));
  }
  int on = 0, ok = 0, ooh = 0, oow = 0;
  CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(plan->fwd.conv.get(), plan->x.get(), plan->w.get(), &on, &ok, &ooh, &oow));
  MINIDL_CHECK(on == g.n && ok == g.k && ooh == g.oh && oow == g.ow, "conv2d (cuDNN): for ", shape_text(g),
               " cuDNN computes an output of [", on, ", ", ok, ", ", ooh, ", ", oow, "], minidl expected [", g.n, ", ",
               g.k, ", ", g.oh, ", ", g.ow, "]");
  ConvPlan& ref = *plan;
  cache.emplace(key, std::move(plan));
  return ref;
}

// The bytes of one element of a plan's tensors.
std::size_t element_bytes(const Numerics& num) { return num.bf16 ? 2 : 4; }

// The context's workspace for one call: the algorithm's scratch first, then, for a bf16 call,
// room for cuDNN's bf16 result (which the caller widens into float32 on the same stream, before
// any later call can reuse the workspace).
struct CallSpace {
  void* algorithm = nullptr;
  void* result = nullptr;
};

CallSpace call_space(Context& ctx, std::size_t algorithm_bytes, std::size_t result_bytes) {
  constexpr std::size_t kAlign = 256;  // what cudaMalloc guarantees, and cuDNN's kernels assume
  const std::size_t offset = (algorithm_bytes + kAlign - 1) / kAlign * kAlign;
  if (offset + result_bytes == 0) return {};
  char* base = static_cast<char*>(ctx.workspace(offset + result_bytes));
  return {algorithm_bytes ? base : nullptr, result_bytes ? base + offset : nullptr};
}

// What differs between the three directions: cuDNN's four calls for each (heuristic ranking,
// timed search, workspace size, the convolution), where the plan keeps its algorithm, and the
// size of its result. In cuDNN's argument order a direction reads operands a and b and writes
// out: forward (x, w) -> y, backward-data (w, dy) -> dx, backward-filter (x, dy) -> dw.
struct Forward {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static constexpr const char* kName = "forward";
  static auto& of(ConvPlan& p) { return p.fwd; }
  static std::int64_t out_elements(const Conv2dGeometry& g) { return g.n * g.k * g.oh * g.ow; }
  static cudnnStatus_t rank(cudnnHandle_t h, ConvPlan& p, int* n, Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, p.x.get(), p.w.get(), p.fwd.conv.get(), p.y.get(), kCount, n,
                                                  perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, ConvPlan& p, const void* a, const void* b, void* out, int* n, Perf* perf,
                            void* ws, std::size_t bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, p.x.get(), a, p.w.get(), b, p.fwd.conv.get(), p.y.get(), out,
                                                  kCount, n, perf, ws, bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, ConvPlan& p, std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, p.x.get(), p.w.get(), p.fwd.conv.get(), p.y.get(), p.fwd.algo,
                                                   bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, ConvPlan& p, const float* alpha, const void* a, const void* b, void* ws,
                           const float* beta, void* out) {
    return cudnnConvolutionForward(h, alpha, p.x.get(), a, p.w.get(), b, p.fwd.conv.get(), p.fwd.algo, ws,
                                   p.fwd.workspace, beta, p.y.get(), out);
  }
};

struct BackwardData {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static constexpr const char* kName = "backward-input";
  static auto& of(ConvPlan& p) { return p.bwd_data; }
  static std::int64_t out_elements(const Conv2dGeometry& g) { return g.n * g.c * g.h * g.w; }
  static cudnnStatus_t rank(cudnnHandle_t h, ConvPlan& p, int* n, Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w.get(), p.y.get(), p.bwd_data.conv.get(), p.x.get(),
                                                       kCount, n, perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, ConvPlan& p, const void* a, const void* b, void* out, int* n, Perf* perf,
                            void* ws, std::size_t bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.w.get(), a, p.y.get(), b, p.bwd_data.conv.get(), p.x.get(),
                                                       out, kCount, n, perf, ws, bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, ConvPlan& p, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w.get(), p.y.get(), p.bwd_data.conv.get(), p.x.get(),
                                                        p.bwd_data.algo, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, ConvPlan& p, const float* alpha, const void* a, const void* b, void* ws,
                           const float* beta, void* out) {
    return cudnnConvolutionBackwardData(h, alpha, p.w.get(), a, p.y.get(), b, p.bwd_data.conv.get(), p.bwd_data.algo,
                                        ws, p.bwd_data.workspace, beta, p.x.get(), out);
  }
};

struct BackwardFilter {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static constexpr const char* kName = "backward-weight";
  static auto& of(ConvPlan& p) { return p.bwd_filter; }
  static std::int64_t out_elements(const Conv2dGeometry& g) { return g.k * g.c_per_group() * g.r * g.s; }
  static cudnnStatus_t rank(cudnnHandle_t h, ConvPlan& p, int* n, Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x.get(), p.y.get(), p.bwd_filter.conv.get(), p.w.get(),
                                                         kCount, n, perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, ConvPlan& p, const void* a, const void* b, void* out, int* n, Perf* perf,
                            void* ws, std::size_t bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p.x.get(), a, p.y.get(), b, p.bwd_filter.conv.get(),
                                                         p.w.get(), out, kCount, n, perf, ws, bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, ConvPlan& p, std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x.get(), p.y.get(), p.bwd_filter.conv.get(), p.w.get(),
                                                          p.bwd_filter.algo, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, ConvPlan& p, const float* alpha, const void* a, const void* b, void* ws,
                           const float* beta, void* out) {
    return cudnnConvolutionBackwardFilter(h, alpha, p.x.get(), a, p.y.get(), b, p.bwd_filter.conv.get(),
                                          p.bwd_filter.algo, ws, p.bwd_filter.workspace, beta, p.w.get(), out);
  }
};

// One call of direction D: the plan, D's algorithm chosen on the first call, then the
// convolution, out = a (*) b, or out += ... when accumulating. out == nullptr (bf16) puts the
// result in the workspace instead; returns where the result is.
template <typename D>
void* convolve(const Conv2dGeometry& g, const Numerics& num, const void* a, const void* b, void* out, bool accumulate,
               cudaStream_t s) {
  Context& ctx = context();
  ConvPlan& p = plan_for(ctx, g, num);
  auto& dir = D::of(p);
  cudnnHandle_t h = ctx.cudnn(s);
  const std::size_t out_bytes = element_bytes(num) * static_cast<std::size_t>(D::out_elements(g));
  if (!dir.found) {
    typename D::Perf perf[D::kCount];
    int returned = 0;
    const std::size_t limit = find_workspace_limit();
    if (num.deterministic) {
      // Deterministic runs take cuDNN's heuristic ranking: timing noise must not change which
      // algorithm (and so which rounding) a run gets.
      CUDNN_CHECK(D::rank(h, p, &returned, perf));
    } else {
      // The search writes a result: into out when the call overwrites it anyway, else into
      // scratch (out may hold a gradient to add to, or be the workspace).
      const bool into_out = out && !accumulate;
      Scratch result(into_out ? 0 : out_bytes, s);
      Scratch ws(limit, s);
      CUDNN_CHECK(D::find(h, p, a, b, into_out ? out : result.get(), &returned, perf, ws.get(), ws.size()));
    }
    const auto* best = pick(perf, returned, num.tensor_ops(), num.deterministic, limit);
    if (!best) no_algorithm(D::kName, g, num.tf32, num.deterministic, num.bf16);
    CUDNN_CHECK(cudnnSetConvolutionMathType(dir.conv.get(), math_for(best->mathType, num.tensor_ops())));
    dir.algo = best->algo;
    std::size_t bytes = 0;
    CUDNN_CHECK(D::workspace(h, p, &bytes));
    dir.workspace = std::max(bytes, best->memory);
    dir.found = true;
  }
  const CallSpace space = call_space(ctx, dir.workspace, out ? 0 : out_bytes);
  if (!out) out = space.result;
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;  // beta 0: out is not read
  CUDNN_CHECK(D::run(h, p, &one, a, b, space.algorithm, &beta, out));
  return out;
}

}  // namespace

void cudnn_conv2d_forward(const Conv2dGeometry& g, const float* x, const float* weight, float* y, cudaStream_t s) {
  convolve<Forward>(g, numerics(false), x, weight, y, false, s);
}

void cudnn_conv2d_backward_input(const Conv2dGeometry& g, const float* dy, const float* weight, float* dx,
                                 bool accumulate, cudaStream_t s) {
  convolve<BackwardData>(g, numerics(false), weight, dy, dx, accumulate, s);
}

void cudnn_conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* dy, float* dweight,
                                  bool accumulate, cudaStream_t s) {
  convolve<BackwardFilter>(g, numerics(false), x, dy, dweight, accumulate, s);
}

const bfloat16* cudnn_conv2d_forward_bf16(const Conv2dGeometry& g, const bfloat16* x, const bfloat16* weight,
                                          cudaStream_t s) {
  return static_cast<const bfloat16*>(convolve<Forward>(g, numerics(true), x, weight, nullptr, false, s));
}

const bfloat16* cudnn_conv2d_backward_input_bf16(const Conv2dGeometry& g, const bfloat16* dy, const bfloat16* weight,
                                                 cudaStream_t s) {
  return static_cast<const bfloat16*>(convolve<BackwardData>(g, numerics(true), weight, dy, nullptr, false, s));
}

const bfloat16* cudnn_conv2d_backward_weight_bf16(const Conv2dGeometry& g, const bfloat16* x, const bfloat16* dy,
                                                  cudaStream_t s) {
  return static_cast<const bfloat16*>(convolve<BackwardFilter>(g, numerics(true), x, dy, nullptr, false, s));
}

}  // namespace minidl::kernels::cuda::detail

#endif  // MINIDL_WITH_CUDNN
