#include "minidl/kernels/bf16.h"

#include "minidl/kernels/cpu/parallel.h"
#include "minidl/kernels/cpu/profile.h"

namespace minidl::kernels::cpu {

void round_to_bf16(Stream, std::int64_t n, const float* x, float* y) {
  MINIDL_CPU_PROFILE("round_to_bf16");
#pragma omp parallel for simd schedule(static) if (n >= detail::kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) y[i] = kernels::round_to_bf16(x[i]);
}

}  // namespace minidl::kernels::cpu
