// fill_, dtype conversion and copies between devices: Tensor's own memory operations.
#include "minidl/core/ops/copy.h"

#include <atomic>
#include <cstring>

#include "minidl/core/ops/device_check.h"
#include "minidl/core/ops/dispatch.h"
#include "minidl/kernels/elementwise.h"
#if MINIDL_WITH_CUDA
#include "minidl/kernels/runtime.h"
#endif

namespace minidl {

namespace {
std::atomic<std::uint64_t> g_host_reads{0};
}  // namespace

std::uint64_t host_reads() { return g_host_reads.load(std::memory_order_relaxed); }

namespace ops_detail {

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if MINIDL_WITH_CUDA
  using kernels::cuda::CopyKind;
  const int dev = dst_device.is_cuda() ? dst_device.index : src_device.index;
  kernels::cuda::set_device(dev);
  const CopyKind kind = dst_device.is_cpu()   ? CopyKind::DeviceToHost
                        : src_device.is_cpu() ? CopyKind::HostToDevice
                                              : CopyKind::DeviceToDevice;
  kernels::cuda::memcpy_async(dst, src, bytes, kind, kernels::cuda::stream(dev));
  // Host memory may be freed or reused as soon as this returns: wait for the copy.
  if (kind != CopyKind::DeviceToDevice) kernels::cuda::synchronize(dev);
  if (kind == CopyKind::DeviceToHost) {
    g_host_reads.fetch_add(1, std::memory_order_relaxed);
    raise_index_checks(src_device);
  }
#else
  MINIDL_FAIL("copy between ", src_device.str(), " and ", dst_device.str(), ": this build has no CUDA backend");
#endif
}

// A CPU tensor is counted here (a GPU one in copy_bytes), so that a test on the CPU sees the
// reads that would stall a GPU.
void read_to_host(void* dst, const Tensor& src, std::size_t bytes) {
  if (src.device().is_cpu()) g_host_reads.fetch_add(1, std::memory_order_relaxed);
  copy_bytes(dst, Device::cpu(), src.raw_data(), src.device(), bytes);
}

void fill(const Tensor& t, double value) {
  dispatch<CpuAll, CudaAll>("fill_", t, [&](auto s, auto tag) {
    using T = decltype(tag);
    fill(s, t.numel(), static_cast<T>(value), t.data<T>());
  });
}

void convert(const Tensor& src, const Tensor& dst) {
  MINIDL_CHECK(dst.device().is_cpu() && src.device().is_cpu(), "copy_: dtype conversion (", dtype_name(src.dtype()),
               " to ", dtype_name(dst.dtype()), ") is done on the CPU; move ", src.str(), " there first");
  MINIDL_CHECK(is_floating(dst.dtype()), "copy_: cannot convert ", dtype_name(src.dtype()), " to ",
               dtype_name(dst.dtype()));
  const kernels::cpu::Stream s;
  auto by_source = [&](auto, auto from) {
    auto by_destination = [&](auto, auto to) {
      using From = decltype(from);
      using To = decltype(to);
      if constexpr (!std::is_same_v<From, To>) kernels::cpu::convert(s, src.numel(), src.data<From>(), dst.data<To>());
    };
    call_typed(dst.dtype(), s, by_destination, CpuFloating{});
  };
  call_typed(src.dtype(), s, by_source, CpuAll{});
}

}  // namespace ops_detail

}  // namespace minidl
