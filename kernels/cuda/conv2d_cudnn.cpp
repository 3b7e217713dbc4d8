// Convolution through cuDNN: descriptors built and algorithms chosen once per shape (and per
// setting of allow_tf32 / deterministic), then cached in the device's context. By default the
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
  Scratch(std::size_t bytes, cudaStream_t s) : stream_(s), ptr_(kernels::cuda::malloc(bytes)), bytes_(bytes) {}
  ~Scratch() {
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
// asked for, it uses no tensor-core (TF32) math unless that was allowed, and its workspace fits
// the limit. cuDNN sorts the results fastest first (measured by Find, predicted by Get_v7).
template <typename Perf>
const Perf* pick(const Perf* perf, int count, bool tf32, bool deterministic, std::size_t workspace_limit) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (perf[i].memory > workspace_limit) continue;
    if (deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    if (!tf32 &&
        (perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    return &perf[i];
  }
  return nullptr;
}

// Strict FP32 runs every algorithm with FMA math only; with TF32 allowed, each algorithm runs
// with the math type it was timed with.
cudnnMathType_t math_for(cudnnMathType_t found, bool tf32) { return tf32 ? found : CUDNN_FMA_MATH; }

[[noreturn]] void no_algorithm(const char* direction, const Conv2dGeometry& g, bool tf32, bool deterministic) {
  throw CudnnError(::minidl::detail::str(
      "conv2d ", direction, " (cuDNN): no algorithm for ", shape_text(g), " satisfies the switches (allow_tf32=", tf32,
      ", deterministic=", deterministic,
      "); use set_conv_backend(\"implicit_gemm\") (or MINIDL_CUDA_CONV=implicit_gemm) for this shape"));
}

ConvPlan& plan_for(Context& ctx, const Conv2dGeometry& g, bool tf32, bool deterministic) {
  const ConvKey key{{g.n, g.c, g.h, g.w, g.k, g.r, g.s, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dilation_h,
                     g.dilation_w, g.groups},
                    tf32,
                    deterministic};
  std::lock_guard<std::mutex> lock(ctx.mutex());
  auto& cache = ctx.cudnn_cache().conv;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;

  auto plan = std::make_unique<ConvPlan>();
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(g.n), to_int(g.c),
                                         to_int(g.h), to_int(g.w)));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, to_int(g.n), to_int(g.k),
                                         to_int(g.oh), to_int(g.ow)));
  // The filter is [k, c / groups, r, s], as ours; the group count goes on the convolution.
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, to_int(g.k),
                                         to_int(g.c_per_group()), to_int(g.r), to_int(g.s)));
  for (cudnnConvolutionDescriptor_t d :
       {plan->fwd_conv.get(), plan->bwd_data_conv.get(), plan->bwd_filter_conv.get()}) {
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, to_int(g.pad_h), to_int(g.pad_w), to_int(g.stride_h),
                                                to_int(g.stride_w), to_int(g.dilation_h), to_int(g.dilation_w),
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionGroupCount(d, to_int(g.groups)));
    CUDNN_CHECK(cudnnSetConvolutionMathType(d, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  }
  int on = 0, ok = 0, ooh = 0, oow = 0;
  CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(plan->fwd_conv.get(), plan->x.get(), plan->w.get(), &on, &ok, &ooh, &oow));
  MINIDL_CHECK(on == g.n && ok == g.k && ooh == g.oh && oow == g.ow, "conv2d (cuDNN): for ", shape_text(g),
               " cuDNN computes an output of [", on, ", ", ok, ", ", ooh, ", ", oow, "], minidl expected [", g.n, ", ",
               g.k, ", ", g.oh, ", ", g.ow, "]");
  ConvPlan& ref = *plan;
  cache.emplace(key, std::move(plan));
  return ref;
}

}  // namespace

void cudnn_conv2d_forward(const Conv2dGeometry& g, const float* x, const float* weight, float* y, cudaStream_t s) {
  Context& ctx = context();
  const bool tf32 = kernels::cuda::allow_tf32(), det = kernels::cuda::deterministic();
  ConvPlan& p = plan_for(ctx, g, tf32, det);
  cudnnHandle_t h = ctx.cudnn(s);
  if (!p.fwd_found) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    const std::size_t limit = find_workspace_limit();
    if (det) {
      // Deterministic runs take cuDNN's heuristic ranking: timing noise must not change which
      // algorithm (and so which rounding) a run gets.
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x.get(), p.w.get(), p.fwd_conv.get(), p.y.get(),
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
    } else {
      // y is overwritten below anyway, so the search may scribble on it.
      Scratch ws(limit, s);
      CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(h, p.x.get(), x, p.w.get(), weight, p.fwd_conv.get(),
                                                         p.y.get(), y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned,
                                                         perf, ws.get(), ws.size()));
    }
    const auto* best = pick(perf, returned, tf32, det, limit);
    if (!best) no_algorithm("forward", g, tf32, det);
    CUDNN_CHECK(cudnnSetConvolutionMathType(p.fwd_conv.get(), math_for(best->mathType, tf32)));
    std::size_t bytes = 0;
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, p.x.get(), p.w.get(), p.fwd_conv.get(), p.y.get(),
                                                        best->algo, &bytes));
    p.fwd_algo = best->algo;
    p.fwd_workspace = std::max(bytes, best->memory);
    p.fwd_found = true;
  }
  void* ws = p.fwd_workspace ? ctx.workspace(p.fwd_workspace) : nullptr;
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnConvolutionForward(h, &one, p.x.get(), x, p.w.get(), weight, p.fwd_conv.get(), p.fwd_algo, ws,
                                      p.fwd_workspace, &zero, p.y.get(), y));
}

void cudnn_conv2d_backward_input(const Conv2dGeometry& g, const float* dy, const float* weight, float* dx,
                                 bool accumulate, cudaStream_t s) {
  Context& ctx = context();
  const bool tf32 = kernels::cuda::allow_tf32(), det = kernels::cuda::deterministic();
  ConvPlan& p = plan_for(ctx, g, tf32, det);
  cudnnHandle_t h = ctx.cudnn(s);
  if (!p.bwd_data_found) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int returned = 0;
    const std::size_t limit = find_workspace_limit();
    if (det) {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w.get(), p.y.get(), p.bwd_data_conv.get(), p.x.get(),
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf));
    } else {
      // The search writes its output: into scratch, since dx may hold a gradient to add to.
      Scratch out(sizeof(float) * g.n * g.c * g.h * g.w, s);
      Scratch ws(limit, s);
      CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
          h, p.w.get(), weight, p.y.get(), dy, p.bwd_data_conv.get(), p.x.get(), out.get(),
          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf, ws.get(), ws.size()));
    }
    const auto* best = pick(perf, returned, tf32, det, limit);
    if (!best) no_algorithm("backward-input", g, tf32, det);
    CUDNN_CHECK(cudnnSetConvolutionMathType(p.bwd_data_conv.get(), math_for(best->mathType, tf32)));
    std::size_t bytes = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w.get(), p.y.get(), p.bwd_data_conv.get(), p.x.get(),
                                                             best->algo, &bytes));
    p.bwd_data_algo = best->algo;
    p.bwd_data_workspace = std::max(bytes, best->memory);
    p.bwd_data_found = true;
  }
  void* ws = p.bwd_data_workspace ? ctx.workspace(p.bwd_data_workspace) : nullptr;
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;  // beta 0: dx is not read
  CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, p.w.get(), weight, p.y.get(), dy, p.bwd_data_conv.get(),
                                           p.bwd_data_algo, ws, p.bwd_data_workspace, &beta, p.x.get(), dx));
}

void cudnn_conv2d_backward_weight(const Conv2dGeometry& g, const float* x, const float* dy, float* dweight,
                                  bool accumulate, cudaStream_t s) {
  Context& ctx = context();
  const bool tf32 = kernels::cuda::allow_tf32(), det = kernels::cuda::deterministic();
  ConvPlan& p = plan_for(ctx, g, tf32, det);
  cudnnHandle_t h = ctx.cudnn(s);
  if (!p.bwd_filter_found) {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int returned = 0;
    const std::size_t limit = find_workspace_limit();
    if (det) {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x.get(), p.y.get(), p.bwd_filter_conv.get(),
                                                                p.w.get(), CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                                &returned, perf));
    } else {
      Scratch out(sizeof(float) * g.k * g.c_per_group() * g.r * g.s, s);
      Scratch ws(limit, s);
      CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
          h, p.x.get(), x, p.y.get(), dy, p.bwd_filter_conv.get(), p.w.get(), out.get(),
          CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &returned, perf, ws.get(), ws.size()));
    }
    const auto* best = pick(perf, returned, tf32, det, limit);
    if (!best) no_algorithm("backward-weight", g, tf32, det);
    CUDNN_CHECK(cudnnSetConvolutionMathType(p.bwd_filter_conv.get(), math_for(best->mathType, tf32)));
    std::size_t bytes = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x.get(), p.y.get(), p.bwd_filter_conv.get(),
                                                               p.w.get(), best->algo, &bytes));
    p.bwd_filter_algo = best->algo;
    p.bwd_filter_workspace = std::max(bytes, best->memory);
    p.bwd_filter_found = true;
  }
  void* ws = p.bwd_filter_workspace ? ctx.workspace(p.bwd_filter_workspace) : nullptr;
  const float one = 1.f, beta = accumulate ? 1.f : 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, p.x.get(), x, p.y.get(), dy, p.bwd_filter_conv.get(),
                                             p.bwd_filter_algo, ws, p.bwd_filter_workspace, &beta, p.w.get(), dweight));
}

}  // namespace minidl::kernels::cuda::detail

#endif  // MINIDL_WITH_CUDNN
