// The non-template half of core/extension.h.
#include "minidl/core/extension.h"

#include "minidl/base/error.h"

#if MINIDL_WITH_CUDA
#include "minidl/kernels/runtime.h"
#endif

namespace minidl::extension {

void check_float(const Tensor& t, const char* op, const char* arg) {
  MINIDL_CHECK(t.defined(), op, ": ", arg, " is undefined");
  MINIDL_CHECK(is_floating(t.dtype()), op, ": ", arg, " must be a floating tensor, got ", t.str());
  MINIDL_CHECK(t.device().is_cpu() || t.dtype() == DType::Float32, op, ": ", arg,
               " must be float32 on a GPU (float64 is for the CPU), got ", t.str());
}

namespace {
// Each defined tensor against the first defined one: `alike(first, t)`, or `op: <what>first and t`.
template <typename Alike>
void check_alike(const char* op, std::initializer_list<const Tensor*> tensors, Alike alike, const char* what) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) first = t;
    else
      MINIDL_CHECK(alike(*first, *t), op, what, first->str(), " and ", t->str());
  }
}
}  // namespace

void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  check_alike(op, tensors, [](const Tensor& a, const Tensor& b) { return a.device() == b.device(); },
              ": tensors on different devices: ");
}

void check_same_dtype(const char* op, std::initializer_list<const Tensor*> tensors) {
  check_alike(op, tensors, [](const Tensor& a, const Tensor& b) { return a.dtype() == b.dtype(); }, ": mixed dtypes: ");
}

void check_dim(const Tensor& t, std::int64_t dims, const char* op, const char* arg) {
  MINIDL_CHECK(t.dim() == dims, op, ": expected ", arg, " with ", dims, " dimensions, got shape ",
               shape_str(t.shape()));
}

#if MINIDL_WITH_CUDA
kernels::cuda::Stream cuda_stream(const Tensor& t) {
  kernels::cuda::set_device(t.device().index);
  return kernels::cuda::stream(t.device().index);
}
#endif

void fail_no_kernel(const char* op, const Tensor& t) {
  MINIDL_FAIL(op, ": no kernel for ", t.str(),
              t.device().is_cuda() && !MINIDL_WITH_CUDA ? " (this build has no CUDA backend)" : "");
}

}  // namespace minidl::extension
