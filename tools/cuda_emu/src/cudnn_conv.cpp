// The emulated cuDNN's convolutions (include/cudnn.h): the checks of the descriptors against
// each other and against cuDNN's supported configurations, the algorithm lists, workspace
// sizes, the timed search (Find*Ex) and the calls that queue the work (cudnn_conv_math.cpp).
#include <algorithm>
#include <chrono>
#include <vector>

#include "cudnn_conv_math.h"

using emu::str;
using emu::dnn::Conv;
using emu::dnn::Dir;
using emu::dnn::fail;

namespace {

// The algorithms the emulator implements, per direction, in the order its heuristics
// (Get*_v7) rank them. cuDNN documents ALGO_0 of backward data and of backward filter as
// non-deterministic (atomic adds); the emulator reports that, though its loops are deterministic.
struct Algo {
  int id;
  const char* name;
  bool deterministic;
};
const std::vector<Algo>& algos(Dir dir) {
  static const std::vector<Algo> fwd{{CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, "IMPLICIT_PRECOMP_GEMM", true},
                                     {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, "IMPLICIT_GEMM", true},
                                     {CUDNN_CONVOLUTION_FWD_ALGO_GEMM, "GEMM", true}};
  static const std::vector<Algo> data{{CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, "ALGO_1", true},
                                      {CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, "ALGO_0", false}};
  static const std::vector<Algo> filter{{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, "ALGO_1", true},
                                        {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, "ALGO_0", false}};
  return dir == Dir::Forward ? fwd : dir == Dir::BackwardData ? data : filter;
}
int algo_count(Dir dir) {
  return dir == Dir::Forward        ? int(CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
         : dir == Dir::BackwardData ? int(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT)
                                    : int(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
}
const Algo* find_algo(Dir dir, int id) {
  for (const Algo& a : algos(dir))
    if (a.id == id) return &a;
  return nullptr;
}

// The math type an algorithm reports for this configuration. FMA_MATH on the descriptor
// restricts every algorithm to FMA math. BFLOAT16 data otherwise runs on tensor cores (bf16
// products are exact in float, so the emulator's float FMAs compute what they do, up to the
// order of the additions). FLOAT and DOUBLE report DEFAULT_MATH: the emulator has no TF32
// algorithm, so allow_tf32 changes nothing in its cuDNN results.
cudnnMathType_t reported_math(const cudnnConvolutionStruct& cv, cudnnDataType_t data) {
  if (cv.math == CUDNN_FMA_MATH) return CUDNN_FMA_MATH;
  return data == CUDNN_DATA_BFLOAT16 ? CUDNN_TENSOR_OP_MATH : CUDNN_DEFAULT_MATH;
}

// 1 + (in + 2 pad - ((filter - 1) dilation + 1)) / stride, or -1 when the dilated filter does
// not fit the padded input.
int out_dim(int in, int pad, int filter, int dilation, int stride) {
  const long long span = (long long)(filter - 1) * dilation + 1;
  const long long padded = (long long)in + 2LL * pad;
  return padded < span ? -1 : int(1 + (padded - span) / stride);
}

cudnnStatus_t check_geometry(const char* fn, const cudnnConvolutionStruct* cv, const cudnnTensorStruct* x,
                             const cudnnFilterStruct* w, int* oh, int* ow) {
  if (!cv || !x || !w) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: a descriptor is null", fn));
  if (!cv->set || !x->set || !w->set)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: a descriptor was created but never set", fn));
  if (x->c != w->c * cv->groups)
    return fail(CUDNN_STATUS_BAD_PARAM,
                str("%s: x %s has %d channels; the filter %s with %d groups takes %d", fn, emu::dnn::describe(*x).c_str(),
                    x->c, emu::dnn::describe(*w).c_str(), cv->groups, w->c * cv->groups));
  if (w->k % cv->groups)
    return fail(CUDNN_STATUS_BAD_PARAM,
                str("%s: %d output channels do not divide into %d groups", fn, w->k, cv->groups));
  *oh = out_dim(x->h, cv->pad_h, w->r, cv->dil_h, cv->stride_h);
  *ow = out_dim(x->w, cv->pad_w, w->s, cv->dil_w, cv->stride_w);
  if (*oh < 1 || *ow < 1)
    return fail(CUDNN_STATUS_BAD_PARAM,
                str("%s: the %dx%d filter (dilation %dx%d) is larger than the %dx%d input padded by %dx%d", fn, w->r,
                    w->s, cv->dil_h, cv->dil_w, x->h, x->w, cv->pad_h, cv->pad_w));
  return CUDNN_STATUS_SUCCESS;
}

// The checks every convolution call makes: the descriptors are set and consistent, y has the
// shape cudnnGetConvolution2dForwardOutputDim gives, the data types agree, and the
// (data, compute) pair is one of cuDNN's supported configurations: FLOAT_CONFIG (FLOAT, FLOAT),
// DOUBLE_CONFIG (DOUBLE, DOUBLE), PSEUDO_BFLOAT16_CONFIG (BFLOAT16 data, FLOAT compute). cuDNN's
// legacy convolution API has no configuration computing in BFLOAT16.
cudnnStatus_t check_conv(const char* fn, cudnnHandle_t h, const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                         const cudnnConvolutionStruct* cv, const cudnnTensorStruct* y, Conv* out) {
  if (!h) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: handle is null", fn));
  int oh = 0, ow = 0;
  if (const cudnnStatus_t s = check_geometry(fn, cv, x, w, &oh, &ow)) return s;
  if (!y || !y->set) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: the y (dy) descriptor is null or not set", fn));
  if (y->n != x->n || y->c != w->k || y->h != oh || y->w != ow)
    return fail(CUDNN_STATUS_BAD_PARAM,
                str("%s: y is %s; x %s with filter %s gives [%d, %d, %d, %d]", fn, emu::dnn::describe(*y).c_str(),
                    emu::dnn::describe(*x).c_str(), emu::dnn::describe(*w).c_str(), x->n, w->k, oh, ow));
  if (x->type != w->type || x->type != y->type)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: x, w and y must have one data type; got %s, %s, %s", fn,
                                            emu::dnn::type_name(x->type), emu::dnn::type_name(w->type),
                                            emu::dnn::type_name(y->type)));
  const cudnnDataType_t d = x->type, cmp = cv->compute;
  const bool ok = (d == CUDNN_DATA_FLOAT && cmp == CUDNN_DATA_FLOAT) || (d == CUDNN_DATA_DOUBLE && cmp == CUDNN_DATA_DOUBLE) ||
                  (d == CUDNN_DATA_BFLOAT16 && cmp == CUDNN_DATA_FLOAT);
  if (!ok)
    return fail(CUDNN_STATUS_NOT_SUPPORTED,
                str("%s: %s data with %s compute is not a supported configuration (FLOAT/FLOAT, DOUBLE/DOUBLE, "
                    "BFLOAT16/FLOAT)",
                    fn, emu::dnn::type_name(d), emu::dnn::type_name(cmp)));
  out->x = emu::dnn::view_of(*x, nullptr);
  out->w = emu::dnn::view_of(*w, nullptr);
  out->y = emu::dnn::view_of(*y, nullptr);
  out->groups = cv->groups;
  out->pad_h = cv->pad_h, out->pad_w = cv->pad_w;
  out->stride_h = cv->stride_h, out->stride_w = cv->stride_w;
  out->dil_h = cv->dil_h, out->dil_w = cv->dil_w;
  out->flip = cv->mode == CUDNN_CONVOLUTION;
  out->dbl = d == CUDNN_DATA_DOUBLE;
  return CUDNN_STATUS_SUCCESS;
}

const char* dir_name(Dir dir) {
  return dir == Dir::Forward ? "forward" : dir == Dir::BackwardData ? "backward data" : "backward filter";
}

// The output operand of a direction.
const emu::dnn::View& output(Dir dir, const Conv& c) {
  return dir == Dir::Forward ? c.y : dir == Dir::BackwardData ? c.x : c.w;
}

// Checks the workspace and the operands, then queues `algo` on the handle's stream.
cudnnStatus_t launch(const char* fn, cudnnHandle_t h, Dir dir, int algo, const Conv& c, void* ws,
                     std::size_t ws_size, double alpha, double beta) {
  const Algo* a = find_algo(dir, algo);
  if (!a) {
    if (algo < 0 || algo >= algo_count(dir))
      return fail(CUDNN_STATUS_BAD_PARAM, str("%s: %d is not an algorithm of this direction", fn, algo));
    return fail(CUDNN_STATUS_NOT_SUPPORTED, str("%s: algorithm %d is not implemented by the emulator", fn, algo));
  }
  std::lock_guard<std::recursive_mutex> lock(emu::api_mutex());
  if (emu::sticky_error()) return fail(CUDNN_STATUS_EXECUTION_FAILED, str("%s: an earlier device error", fn));
  const std::size_t need = emu::dnn::workspace_bytes(dir, algo, c);
  if (need > ws_size)
    return fail(CUDNN_STATUS_BAD_PARAM,
                str("%s: algorithm %s needs %zu bytes of workspace; workSpaceSizeInBytes is %zu", fn, a->name, need,
                    ws_size));
  if (need > 0 && !ws)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: algorithm %s needs a workspace; workSpace is null", fn, a->name));
  // All of the workspace claimed must be device memory, not only what this algorithm touches:
  // a size larger than the buffer is a bug of the caller either way.
  if (ws && ws_size && !emu::dnn::operand_ok(fn, "workSpace", ws, ws_size)) return CUDNN_STATUS_EXECUTION_FAILED;
  if (!emu::dnn::operand_ok(fn, dir == Dir::BackwardData ? "dx" : "x", c.x.ptr, c.x.bytes()) ||
      !emu::dnn::operand_ok(fn, dir == Dir::BackwardFilter ? "dw" : "w", c.w.ptr, c.w.bytes()) ||
      !emu::dnn::operand_ok(fn, dir == Dir::Forward ? "y" : "dy", c.y.ptr, c.y.bytes()))
    return CUDNN_STATUS_EXECUTION_FAILED;
  // cuDNN's convolutions are not in place, and the workspace is the algorithm's own: an output
  // or workspace sharing bytes with another operand is a caller's bug that a GPU turns into
  // silently wrong numbers.
  struct Range {
    const char* name;
    const void* p;
    std::size_t bytes;
  };
  const Range ranges[] = {{dir == Dir::BackwardData ? "dx" : "x", c.x.ptr, c.x.bytes()},
                          {dir == Dir::BackwardFilter ? "dw" : "w", c.w.ptr, c.w.bytes()},
                          {dir == Dir::Forward ? "y" : "dy", c.y.ptr, c.y.bytes()},
                          {"workSpace", ws, need}};
  const int out_index = dir == Dir::Forward ? 2 : dir == Dir::BackwardData ? 0 : 1;
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j) {
      if (i != out_index && j != out_index && j != 3) continue;  // two inputs may share memory
      const Range& a = ranges[i];
      const Range& b = ranges[j];
      const auto lo = [](const Range& r) { return reinterpret_cast<std::uintptr_t>(r.p); };
      if (a.bytes && b.bytes && lo(a) < lo(b) + b.bytes && lo(b) < lo(a) + a.bytes)
        return fail(CUDNN_STATUS_BAD_PARAM, str("%s: %s (%p, %zu bytes) and %s (%p, %zu bytes) overlap", fn, a.name,
                                                a.p, a.bytes, b.name, b.p, b.bytes));
    }
  std::vector<emu::Access> acc;
  for (const emu::dnn::View* v : {&c.x, &c.w, &c.y})
    acc.push_back(emu::Access{v->ptr, v->bytes(), v == &output(dir, c)});
  if (need) acc.push_back(emu::Access{ws, need, true});
  const std::string name = str("%s (%s %s, x [%lld, %lld, %lld, %lld], w [%lld, %lld, %lld, %lld])", fn, dir_name(dir),
                               a->name, (long long)c.x.d[0], (long long)c.x.d[1], (long long)c.x.d[2],
                               (long long)c.x.d[3], (long long)c.w.d[0], (long long)c.w.d[1], (long long)c.w.d[2],
                               (long long)c.w.d[3]);
  const cudaError_t r = emu::enqueue(h->stream, name, std::move(acc), {}, [=]() {
    emu::dnn::run_conv(dir, algo, c, ws, alpha, beta);
    return cudaSuccess;
  });
  if (r != cudaSuccess) return fail(CUDNN_STATUS_EXECUTION_FAILED, str("%s: %s", fn, cudaGetErrorString(r)));
  return CUDNN_STATUS_SUCCESS;
}

// alpha and beta are host values: double for DOUBLE data, float otherwise.
cudnnStatus_t scalars(const char* fn, const Conv& c, const void* alpha, const void* beta, double* a, double* b) {
  if (!alpha || !beta) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: alpha or beta is null", fn));
  *a = c.dbl ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  *b = c.dbl ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  return CUDNN_STATUS_SUCCESS;
}

template <typename Perf, typename AlgoEnum>
void fill(Perf* p, Dir dir, int id, cudnnStatus_t status, float ms, const Conv& c, cudnnMathType_t math) {
  *p = Perf{};
  p->algo = AlgoEnum(id);
  p->status = status;
  p->time = ms;
  const Algo* a = find_algo(dir, id);
  p->memory = a ? emu::dnn::workspace_bytes(dir, id, c) : 0;
  p->determinism = a && a->deterministic ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC;
  p->mathType = math;
}

// The ranking without running anything: the implemented algorithms in heuristic order (time -1:
// the emulator predicts none), then the rest of the enum as NOT_SUPPORTED.
template <typename Perf, typename AlgoEnum>
cudnnStatus_t get_v7(const char* fn, Dir dir, const Conv& c, cudnnMathType_t math, int requested, int* returned,
                     Perf* perf) {
  if (requested < 1 || !returned || !perf)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: requestedAlgoCount %d, or a null output", fn, requested));
  std::vector<Perf> all;
  for (const Algo& a : algos(dir)) {
    all.emplace_back();
    fill<Perf, AlgoEnum>(&all.back(), dir, a.id, CUDNN_STATUS_SUCCESS, -1.f, c, math);
  }
  for (int id = 0; id < algo_count(dir); ++id)
    if (!find_algo(dir, id)) {
      all.emplace_back();
      fill<Perf, AlgoEnum>(&all.back(), dir, id, CUDNN_STATUS_NOT_SUPPORTED, -1.f, c, math);
    }
  *returned = std::min<int>(requested, int(all.size()));
  std::copy(all.begin(), all.begin() + *returned, perf);
  return CUDNN_STATUS_SUCCESS;
}

// Runs each implemented algorithm whose workspace fits into the caller's output and workspace,
// timing it (host time of the emulated run), and returns them fastest first; the ones whose
// workspace does not fit come after with CUDNN_STATUS_NOT_SUPPORTED, then the unimplemented ones.
// Blocking, as cuDNN's Find is: it synchronizes the handle's stream.
template <typename Perf, typename AlgoEnum>
cudnnStatus_t find_ex(const char* fn, cudnnHandle_t h, Dir dir, const Conv& c, cudnnMathType_t math, int requested,
                      int* returned, Perf* perf, void* ws, std::size_t ws_size) {
  if (requested < 1 || !returned || !perf)
    return fail(CUDNN_STATUS_BAD_PARAM, str("%s: requestedAlgoCount %d, or a null output", fn, requested));
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(h->stream, &capturing) != cudaSuccess || capturing != cudaStreamCaptureStatusNone)
    return fail(CUDNN_STATUS_NOT_SUPPORTED, str("%s: algorithms cannot be timed while the stream is captured", fn));
  if (cudaStreamSynchronize(h->stream) != cudaSuccess)
    return fail(CUDNN_STATUS_EXECUTION_FAILED, str("%s: the stream had failed before the search", fn));
  std::vector<Perf> ran, rest;
  for (const Algo& a : algos(dir)) {
    if (emu::dnn::workspace_bytes(dir, a.id, c) > ws_size) {
      rest.emplace_back();
      fill<Perf, AlgoEnum>(&rest.back(), dir, a.id, CUDNN_STATUS_NOT_SUPPORTED, -1.f, c, math);
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (const cudnnStatus_t s = launch(fn, h, dir, a.id, c, ws, ws_size, 1.0, 0.0)) return s;
    if (cudaStreamSynchronize(h->stream) != cudaSuccess)
      return fail(CUDNN_STATUS_EXECUTION_FAILED, str("%s: algorithm %s failed on the device", fn, a.name));
    const float ms = std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ran.emplace_back();
    fill<Perf, AlgoEnum>(&ran.back(), dir, a.id, CUDNN_STATUS_SUCCESS, ms, c, math);
  }
  std::stable_sort(ran.begin(), ran.end(), [](const Perf& a, const Perf& b) { return a.time < b.time; });
  for (int id = 0; id < algo_count(dir); ++id)
    if (!find_algo(dir, id)) {
      rest.emplace_back();
      fill<Perf, AlgoEnum>(&rest.back(), dir, id, CUDNN_STATUS_NOT_SUPPORTED, -1.f, c, math);
    }
  ran.insert(ran.end(), rest.begin(), rest.end());
  *returned = std::min<int>(requested, int(ran.size()));
  std::copy(ran.begin(), ran.begin() + *returned, perf);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t workspace_size(const char* fn, Dir dir, const Conv& c, int algo, size_t* bytes) {
  if (!bytes) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: sizeInBytes is null", fn));
  if (!find_algo(dir, algo)) {
    if (algo < 0 || algo >= algo_count(dir))
      return fail(CUDNN_STATUS_BAD_PARAM, str("%s: %d is not an algorithm of this direction", fn, algo));
    return fail(CUDNN_STATUS_NOT_SUPPORTED, str("%s: algorithm %d is not implemented by the emulator", fn, algo));
  }
  *bytes = emu::dnn::workspace_bytes(dir, algo, c);
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t convDesc,
                                                    const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
                                                    int* n, int* c, int* h, int* wo) {
  const char* fn = "cudnnGetConvolution2dForwardOutputDim";
  if (!n || !c || !h || !wo) return fail(CUDNN_STATUS_BAD_PARAM, str("%s: a null output", fn));
  int oh = 0, ow = 0;
  if (const cudnnStatus_t s = check_geometry(fn, convDesc, x, w, &oh, &ow)) return s;
  *n = x->n, *c = w->k, *h = oh, *wo = ow;
  return CUDNN_STATUS_SUCCESS;
}

// ---- forward ----

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                     const cudnnFilterDescriptor_t w,
                                                     const cudnnConvolutionDescriptor_t cv,
                                                     const cudnnTensorDescriptor_t y, const int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
  const char* fn = "cudnnGetConvolutionForwardAlgorithm_v7";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, x, w, cv, y, &c)) return s;
  return get_v7<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(fn, Dir::Forward, c,
                                                                          reported_math(*cv, x->type), requested,
                                                                          returned, perf);
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t h, const cudnnTensorDescriptor_t xd, const void* x,
                                                     const cudnnFilterDescriptor_t wd, const void* w,
                                                     const cudnnConvolutionDescriptor_t cv,
                                                     const cudnnTensorDescriptor_t yd, void* y, const int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* perf, void* ws,
                                                     size_t ws_size) {
  const char* fn = "cudnnFindConvolutionForwardAlgorithmEx";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, xd, wd, cv, yd, &c)) return s;
  c.x.ptr = x, c.w.ptr = w, c.y.ptr = y;
  return find_ex<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(
      fn, h, Dir::Forward, c, reported_math(*cv, xd->type), requested, returned, perf, ws, ws_size);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                      const cudnnFilterDescriptor_t w,
                                                      const cudnnConvolutionDescriptor_t cv,
                                                      const cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
                                                      size_t* bytes) {
  const char* fn = "cudnnGetConvolutionForwardWorkspaceSize";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, x, w, cv, y, &c)) return s;
  return workspace_size(fn, Dir::Forward, c, algo, bytes);
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t xd,
                                      const void* x, const cudnnFilterDescriptor_t wd, const void* w,
                                      const cudnnConvolutionDescriptor_t cv, cudnnConvolutionFwdAlgo_t algo, void* ws,
                                      size_t ws_size, const void* beta, const cudnnTensorDescriptor_t yd, void* y) {
  const char* fn = "cudnnConvolutionForward";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, xd, wd, cv, yd, &c)) return s;
  double a = 0, b = 0;
  if (const cudnnStatus_t s = scalars(fn, c, alpha, beta, &a, &b)) return s;
  c.x.ptr = x, c.w.ptr = w, c.y.ptr = y;
  return launch(fn, h, Dir::Forward, algo, c, ws, ws_size, a, b);
}

// ---- backward data ----

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, const cudnnFilterDescriptor_t w,
                                                          const cudnnTensorDescriptor_t dy,
                                                          const cudnnConvolutionDescriptor_t cv,
                                                          const cudnnTensorDescriptor_t dx, const int requested,
                                                          int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  const char* fn = "cudnnGetConvolutionBackwardDataAlgorithm_v7";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, dx, w, cv, dy, &c)) return s;
  return get_v7<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(
      fn, Dir::BackwardData, c, reported_math(*cv, dx->type), requested, returned, perf);
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(
    cudnnHandle_t h, const cudnnFilterDescriptor_t wd, const void* w, const cudnnTensorDescriptor_t dyd,
    const void* dy, const cudnnConvolutionDescriptor_t cv, const cudnnTensorDescriptor_t dxd, void* dx,
    const int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf, void* ws, size_t ws_size) {
  const char* fn = "cudnnFindConvolutionBackwardDataAlgorithmEx";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, dxd, wd, cv, dyd, &c)) return s;
  c.x.ptr = dx, c.w.ptr = w, c.y.ptr = dy;
  return find_ex<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(
      fn, h, Dir::BackwardData, c, reported_math(*cv, dxd->type), requested, returned, perf, ws, ws_size);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, const cudnnFilterDescriptor_t w,
                                                           const cudnnTensorDescriptor_t dy,
                                                           const cudnnConvolutionDescriptor_t cv,
                                                           const cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
  const char* fn = "cudnnGetConvolutionBackwardDataWorkspaceSize";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, dx, w, cv, dy, &c)) return s;
  return workspace_size(fn, Dir::BackwardData, c, algo, bytes);
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha, const cudnnFilterDescriptor_t wd,
                                           const void* w, const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const cudnnConvolutionDescriptor_t cv, cudnnConvolutionBwdDataAlgo_t algo,
                                           void* ws, size_t ws_size, const void* beta,
                                           const cudnnTensorDescriptor_t dxd, void* dx) {
  const char* fn = "cudnnConvolutionBackwardData";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, dxd, wd, cv, dyd, &c)) return s;
  double a = 0, b = 0;
  if (const cudnnStatus_t s = scalars(fn, c, alpha, beta, &a, &b)) return s;
  c.x.ptr = dx, c.w.ptr = w, c.y.ptr = dy;
  return launch(fn, h, Dir::BackwardData, algo, c, ws, ws_size, a, b);
}

// ---- backward filter ----

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                            const cudnnTensorDescriptor_t dy,
                                                            const cudnnConvolutionDescriptor_t cv,
                                                            const cudnnFilterDescriptor_t dw, const int requested,
                                                            int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  const char* fn = "cudnnGetConvolutionBackwardFilterAlgorithm_v7";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, x, dw, cv, dy, &c)) return s;
  return get_v7<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(
      fn, Dir::BackwardFilter, c, reported_math(*cv, x->type), requested, returned, perf);
}

cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(
    cudnnHandle_t h, const cudnnTensorDescriptor_t xd, const void* x, const cudnnTensorDescriptor_t dyd,
    const void* dy, const cudnnConvolutionDescriptor_t cv, const cudnnFilterDescriptor_t dwd, void* dw,
    const int requested, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf, void* ws, size_t ws_size) {
  const char* fn = "cudnnFindConvolutionBackwardFilterAlgorithmEx";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, xd, dwd, cv, dyd, &c)) return s;
  c.x.ptr = x, c.w.ptr = dw, c.y.ptr = dy;
  return find_ex<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(
      fn, h, Dir::BackwardFilter, c, reported_math(*cv, xd->type), requested, returned, perf, ws, ws_size);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                             const cudnnTensorDescriptor_t dy,
                                                             const cudnnConvolutionDescriptor_t cv,
                                                             const cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
  const char* fn = "cudnnGetConvolutionBackwardFilterWorkspaceSize";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, x, dw, cv, dy, &c)) return s;
  return workspace_size(fn, Dir::BackwardFilter, c, algo, bytes);
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t xd,
                                             const void* x, const cudnnTensorDescriptor_t dyd, const void* dy,
                                             const cudnnConvolutionDescriptor_t cv,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t ws_size,
                                             const void* beta, const cudnnFilterDescriptor_t dwd, void* dw) {
  const char* fn = "cudnnConvolutionBackwardFilter";
  Conv c;
  if (const cudnnStatus_t s = check_conv(fn, h, xd, dwd, cv, dyd, &c)) return s;
  double a = 0, b = 0;
  if (const cudnnStatus_t s = scalars(fn, c, alpha, beta, &a, &b)) return s;
  c.x.ptr = x, c.w.ptr = dw, c.y.ptr = dy;
  return launch(fn, h, Dir::BackwardFilter, algo, c, ws, ws_size, a, b);
}
