#include "minidl/core/ops/device_check.h"

#include <mutex>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/config.h"
#if MINIDL_WITH_CUDA
#include "minidl/kernels/runtime.h"
#endif

namespace minidl::ops_detail {

namespace {

// One slot per GPU and check site, made on the first call and reused by every later one, so a
// steady-state step allocates nothing here. A few sites exist, so a list is enough.
struct Site {
  Device device;
  const char* op;
  const char* what;
  const char* bound_name;
  std::int64_t bound;
  Tensor slot;  // int64 [], zero until a kernel reports a row
};

std::mutex& sites_mutex() {
  static std::mutex m;
  return m;
}
// Never destroyed: the slots' memory must outlive every other static that may still run kernels.
std::vector<Site>& sites() {
  static auto* s = new std::vector<Site>;
  return *s;
}

}  // namespace

IndexCheck::IndexCheck(const Tensor& values, const char* op, const char* what, const char* bound_name,
                       std::int64_t bound)
    : values_(values), op_(op), what_(what), bound_name_(bound_name), bound_(bound), slot_(&cpu_slot_) {
  const Device d = values.device();
  if (d.is_cpu()) return;
  std::lock_guard<std::mutex> lock(sites_mutex());
  for (Site& s : sites())
    if (s.device == d && s.op == op && s.what == what && s.bound == bound) {
      slot_ = s.slot.data<std::int64_t>();
      return;
    }
  sites().push_back({d, op, what, bound_name, bound, Tensor::zeros({}, DType::Int64, d)});
  slot_ = sites().back().slot.data<std::int64_t>();
}

void IndexCheck::done() const {
  if (!values_.device().is_cpu() || cpu_slot_ == 0) return;
  const std::int64_t row = cpu_slot_ - 1;
  MINIDL_FAIL(op_, ": the ", what_, " of row ", row, " is ", values_.data<std::int64_t>()[row], ", outside the ",
              bound_, " ", bound_name_, " [0, ", bound_, ")");
}

void raise_index_checks([[maybe_unused]] Device device) {
#if MINIDL_WITH_CUDA
  std::lock_guard<std::mutex> lock(sites_mutex());
  for (Site& s : sites()) {
    if (s.device != device) continue;
    // Read and clear the slot with the runtime directly: a Tensor read would come back here.
    std::int64_t v = 0;
    const kernels::cuda::Stream stream = kernels::cuda::stream(device.index);
    kernels::cuda::set_device(device.index);
    kernels::cuda::memcpy_async(&v, s.slot.data<std::int64_t>(), sizeof v, kernels::cuda::CopyKind::DeviceToHost,
                                stream);
    kernels::cuda::synchronize(device.index);
    if (v == 0) continue;
    kernels::cuda::memset_async(s.slot.data<std::int64_t>(), 0, sizeof v, stream);
    MINIDL_FAIL(s.op, ": the ", s.what, " of row ", v - 1, " is outside the ", s.bound, " ", s.bound_name, " [0, ",
                s.bound, ") (found on ", device.str(),
                " at the next synchronisation: what was computed from that call on is invalid)");
  }
#endif
}

}  // namespace minidl::ops_detail
