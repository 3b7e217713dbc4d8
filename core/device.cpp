#include "minidl/core/device.h"

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


}  // namespace minidl
