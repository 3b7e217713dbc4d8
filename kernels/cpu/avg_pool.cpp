// avg_pool2d on the CPU: loops over the per-element code shared with CUDA (avg_pool_math.h).
#include "minidl/kernels/avg_pool_math.h"
#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"
#include "minidl/kernels/pool.h"

namespace minidl::kernels::cpu {

using detail::kParallelGrain;

template <typename T>
void avg_pool2d_forward(Stream, const Pool2dGeometry& g, bool count_include_pad, const T* x, T* y) {
  MINIDL_CPU_PROFILE("avg_pool2d_forward");
  const std::int64_t n = g.n * g.c * g.oh * g.ow;
#pragma omp parallel for schedule(static) if (n * g.kh * g.kw >= kParallelGrain)
  for (std::int64_t e = 0; e < n; ++e) kernels::detail::avg_pool_one(g, e, count_include_pad, x, y);
}

template <typename T>
void avg_pool2d_backward(Stream, const Pool2dGeometry& g, bool count_include_pad, const T* dy, T* dx, bool accumulate) {
  MINIDL_CPU_PROFILE("avg_pool2d_backward");
  const std::int64_t n = g.n * g.c * g.h * g.w;
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t e = 0; e < n; ++e) kernels::detail::avg_pool_backward_one(g, e, count_include_pad, dy, dx, accumulate);
}

template void avg_pool2d_forward<float>(Stream, const Pool2dGeometry&, bool, const float*, float*);
template void avg_pool2d_forward<double>(Stream, const Pool2dGeometry&, bool, const double*, double*);
template void avg_pool2d_backward<float>(Stream, const Pool2dGeometry&, bool, const float*, float*, bool);
template void avg_pool2d_backward<double>(Stream, const Pool2dGeometry&, bool, const double*, double*, bool);

}  // namespace minidl::kernels::cpu
