// SGD (momentum, dampening, nesterov, weight decay) and AdamW over every parameter tensor in
// one launch: the slices and a prefix sum of their block counts travel as a kernel argument
// (under the classic 4 KB limit), and each block finds its slice by binary search. Gradient
// clipping: the global norm by one reduction per tensor into a device double, and the scaling by
// a kernel per tensor that reads it, so the host never waits.
#include <cmath>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/launch.cuh"
#include "minidl/kernels/cuda/reduce.cuh"
#include "minidl/kernels/optim.h"

namespace minidl::kernels::cuda {

namespace {

constexpr int kMaxSlices = 64;  // ResNet-18 has 62 parameter tensors: one launch
constexpr int kOptimThreads = 256;
constexpr std::int64_t kChunk = 4 * 1024;  // elements per block

struct SliceTable {
  ParamSlice<float> slice[kMaxSlices];
  int block_start[kMaxSlices + 1];  // block_start[i]: first block of slice i
  int count;
};
static_assert(sizeof(SliceTable) < 4000, "the slice table must fit in a kernel's parameter space");

struct SgdParams {
  float lr, momentum, one_minus_dampening, weight_decay;
  bool nesterov, first_step;
};

// 1 - beta comes from the host in double: computed in float, 1 - 0.999f is off by 1.3e-5.
struct AdamWParams {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, decay_factor, step_size, bias_correction2_sqrt;
};

// Which slice, and which chunk [begin, end) of it, this block updates.
struct Chunk {
  int slice;
  std::int64_t begin, end;
};
__device__ __forceinline__ Chunk block_chunk(const SliceTable& t) {
  const int block = blockIdx.x;
  int lo = 0, hi = t.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (t.block_start[mid] <= block)
      lo = mid;
    else
      hi = mid - 1;
  }
  Chunk c;
  c.slice = lo;
  c.begin = std::int64_t(blockIdx.x - t.block_start[lo]) * kChunk;
  c.end = c.begin + kChunk < t.slice[lo].n ? c.begin + kChunk : t.slice[lo].n;
  return c;
}

// scalars: null (lr and weight decay as o has them), or the step's kSgdScalars doubles in device
// memory, turned into float as the host turns them (round to nearest), so either way is the same.
__global__ void __launch_bounds__(kOptimThreads) sgd_kernel(const SliceTable t, const SgdParams o,
                                                            const double* scalars) {
  const Chunk c = block_chunk(t);
  const ParamSlice<float>& p = t.slice[c.slice];
  const float lr = scalars ? float(scalars[0]) : o.lr;
  const float weight_decay = scalars ? float(scalars[1]) : o.weight_decay;
  for (std::int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
    float g = p.grad[i];
    if (weight_decay != 0.f) g = fmaf(weight_decay, p.param[i], g);
    if (o.momentum != 0.f) {
      const float buf = o.first_step ? g : fmaf(o.momentum, p.state1[i], o.one_minus_dampening * g);
      p.state1[i] = buf;
      g = o.nesterov ? fmaf(o.momentum, buf, g) : buf;
    }
    p.param[i] -= lr * g;
  }
}

// scalars: null, or the step's kAdamWScalars doubles (decay factor, step size, sqrt of bias
// correction 2) in device memory, which replace o's float copies of them.
__global__ void __launch_bounds__(kOptimThreads) adamw_kernel(const SliceTable t, const AdamWParams o,
                                                              const double* scalars) {
  const Chunk c = block_chunk(t);
  const ParamSlice<float>& p = t.slice[c.slice];
  const float decay_factor = scalars ? float(scalars[0]) : o.decay_factor;
  const float step_size = scalars ? float(scalars[1]) : o.step_size;
  const float bias_correction2_sqrt = scalars ? float(scalars[2]) : o.bias_correction2_sqrt;
  for (std::int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
    const float g = p.grad[i];
    const float m = fmaf(o.beta1, p.state1[i], o.one_minus_beta1 * g);
    const float v = fmaf(o.beta2, p.state2[i], o.one_minus_beta2 * g * g);
    p.state1[i] = m;
    p.state2[i] = v;
    const float w = p.param[i] * decay_factor;
    p.param[i] = w - step_size * m / (sqrtf(v) / bias_correction2_sqrt + o.eps);
  }
}

// Calls launch(table, blocks) for each run of up to kMaxSlices non-empty slices.
template <typename Launch>
void for_each_table(const ParamSlice<float>* params, int count, Launch launch) {
  SliceTable t{};
  std::int64_t blocks = 0;
  auto flush = [&]() {
    if (t.count == 0) return;
    t.block_start[t.count] = static_cast<int>(blocks);
    launch(t, static_cast<unsigned>(blocks));
    t = SliceTable{};
    blocks = 0;
  };
  for (int i = 0; i < count; ++i) {
    if (params[i].n <= 0) continue;
    const std::int64_t nb = (params[i].n + kChunk - 1) / kChunk;
    if (t.count == kMaxSlices || blocks + nb > (std::int64_t(1) << 30)) flush();
    MINIDL_CHECK(nb <= (std::int64_t(1) << 30), "optimizer step (CUDA): parameter of ", params[i].n,
                 " elements is too large");
    t.slice[t.count] = params[i];
    t.block_start[t.count] = static_cast<int>(blocks);
    ++t.count;
    blocks += nb;
  }
  flush();
}

// total_norm's store: adds one tensor's sum of squares into the running total.
struct AddTo {
  double* total;
  __device__ void operator()(double v) const { *total += v; }
};

// A step's scalars, written by a one-thread launch: its argument is copied when the launch is
// queued, so the host's values are consumed before the call returns (a pageable host-to-device
// copy may have to wait for the stream first, and a pinned buffer must not be rewritten while a
// queued copy still reads it).
struct ScalarPack {
  double v[4];
  int n;
};
static_assert(kSgdScalars <= 4 && kAdamWScalars <= 4, "ScalarPack holds a step's scalars");
__global__ void write_scalars_kernel(double* dst, const ScalarPack pack) {
  for (int i = 0; i < pack.n; ++i) dst[i] = pack.v[i];
}

void write_scalars(Stream stream, const double* values, int n, double* dst) {
  ScalarPack pack{};
  for (int i = 0; i < n; ++i) pack.v[i] = values[i];
  pack.n = n;
  write_scalars_kernel<<<1, 1, 0, native(stream)>>>(dst, pack);
  CUDA_LAUNCH_CHECK("write_scalars_kernel");
}

// AdamW's step factors in double, as adamw_kernel's scalars hold them.
void adamw_factors(const AdamWStepOptions& o, double* f) {
  const double t = double(o.step);
  f[0] = 1.0 - o.lr * o.weight_decay;
  f[1] = o.lr / (1.0 - std::pow(o.beta1, t));
  f[2] = std::sqrt(1.0 - std::pow(o.beta2, t));
}

__global__ void sqrt_in_place_kernel(double* v) { *v = sqrt(*v); }

template <typename T>
__global__ void clip_kernel(std::int64_t n, T* x, const double* norm, double max_norm) {
  const double coef = max_norm / (*norm + 1e-6);
  if (!(coef < 1.0)) return;
  const T c = T(coef);
  for (std::int64_t i = detail::grid_index(); i < n; i += detail::grid_stride())
    x[i] = c * x[i];
}

}  // namespace

template <typename T>
void sgd_step(Stream stream, const ParamSlice<T>* params, int count, const SgdStepOptions& o, bool first_step,
              const double* scalars) {
  if (o.momentum != 0.0)
    for (int i = 0; i < count; ++i)
      MINIDL_CHECK(params[i].n <= 0 || params[i].state1, "sgd_step (CUDA): parameter ", i,
                   " has no momentum buffer but momentum is ", o.momentum);
  const SgdParams p{float(o.lr),           float(o.momentum), float(1.0 - o.dampening),
                    float(o.weight_decay), o.nesterov,        first_step};
  for_each_table(params, count, [&](const SliceTable& t, unsigned blocks) {
    sgd_kernel<<<blocks, kOptimThreads, 0, native(stream)>>>(t, p, scalars);
    CUDA_LAUNCH_CHECK("sgd_kernel");
  });
}

template <typename T>
void adamw_step(Stream stream, const ParamSlice<T>* params, int count, const AdamWStepOptions& o,
                const double* scalars) {
  for (int i = 0; i < count; ++i)
    MINIDL_CHECK(params[i].n <= 0 || (params[i].state1 && params[i].state2), "adamw_step (CUDA): parameter ", i,
                 " has no exp_avg / exp_avg_sq buffers");
  MINIDL_CHECK(o.step >= 1, "adamw_step (CUDA): step must be >= 1, got ", o.step);
  double f[kAdamWScalars];
  adamw_factors(o, f);
  const AdamWParams p{float(o.beta1), float(1.0 - o.beta1), float(o.beta2), float(1.0 - o.beta2),
                      float(o.eps),   float(f[0]),          float(f[1]),    float(f[2])};
  for_each_table(params, count, [&](const SliceTable& t, unsigned blocks) {
    adamw_kernel<<<blocks, kOptimThreads, 0, native(stream)>>>(t, p, scalars);
    CUDA_LAUNCH_CHECK("adamw_kernel");
  });
}

void sgd_write_scalars(Stream stream, const SgdStepOptions& o, double* scalars) {
  const double v[kSgdScalars] = {o.lr, o.weight_decay};
  write_scalars(stream, v, kSgdScalars, scalars);
}

void adamw_write_scalars(Stream stream, const AdamWStepOptions& o, double* scalars) {
  MINIDL_CHECK(o.step >= 1, "adamw_write_scalars (CUDA): step must be >= 1, got ", o.step);
  double f[kAdamWScalars];
  adamw_factors(o, f);
  write_scalars(stream, f, kAdamWScalars, scalars);
}

// Sums of squares in tensor order into *norm (each a fixed-order reduction), then its root.
template <typename T>
void total_norm(Stream stream, const Span<const T>* xs, int count, double* norm) {
  const cudaStream_t s = native(stream);
  CUDA_CHECK(cudaMemsetAsync(norm, 0, sizeof(double), s));
  for (int i = 0; i < count; ++i) detail::reduce<true>(xs[i].n, xs[i].data, AddTo{norm}, s);
  sqrt_in_place_kernel<<<1, 1, 0, s>>>(norm);
  CUDA_LAUNCH_CHECK("sqrt_in_place_kernel");
}

template <typename T>
void clip_by_norm(Stream stream, const Span<T>* xs, int count, const double* norm, double max_norm) {
  for (int i = 0; i < count; ++i) {
    if (xs[i].n <= 0) continue;
    clip_kernel<T><<<detail::grid_for(xs[i].n), detail::kBlock, 0, native(stream)>>>(xs[i].n, xs[i].data, norm,
                                                                                       max_norm);
    CUDA_LAUNCH_CHECK("clip_kernel");
  }
}

MINIDL_INSTANTIATE_OPTIM(float)

}  // namespace minidl::kernels::cuda
