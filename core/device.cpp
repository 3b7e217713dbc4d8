#include "minidl/core/device.h"

#include <cstdlib>
#include <string>

#include "minidl/base/error.h"
#include "minidl/config.h"
#if MINIDL_WITH_CUDA
#include "minidl/kernels/runtime.h"
#endif

namespace minidl {

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    const std::string idx = s.substr(5);
    if (!idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 4)
      return cuda(std::stoi(idx));
  }
  MINIDL_FAIL("unknown device '", s, "': expected cpu, cuda or cuda:N");
}

bool cuda_built() { return MINIDL_WITH_CUDA != 0; }

int cuda_device_count() {
#if MINIDL_WITH_CUDA
  static const int count = kernels::cuda::device_count();
  return count;
#else
  return 0;
#endif
}

bool cuda_available() { return cuda_device_count() > 0; }

void check_device_available(Device device) {
  if (device.is_cpu()) return;
#if MINIDL_WITH_CUDA
  const int n = cuda_device_count();
  if (n == 0) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    const std::string reason = kernels::cuda::device_count_error();
    MINIDL_FAIL("asked for ", device.str(), " but this process sees no GPU",
                reason.empty() ? "" : " (the CUDA runtime says: " + reason + ")",
                visible ? detail::str("; CUDA_VISIBLE_DEVICES is '", visible, "'") : std::string(),
                ". Run on the CPU (Device::cpu(), --device cpu), or check the NVIDIA driver (nvidia-smi)");
  }
  MINIDL_CHECK(device.index >= 0 && device.index < n, "asked for ", device.str(), " but this process sees ", n,
               " GPU", n == 1 ? "" : "s", " (cuda:0", n > 1 ? detail::str(" to cuda:", n - 1) : std::string(), ")");
#else
  MINIDL_FAIL("asked for ", device.str(), " but this build of minidl has no CUDA backend (configure with "
              "-DMINIDL_CUDA=ON on a machine with the CUDA toolkit)");
#endif
}


}  // namespace minidl
