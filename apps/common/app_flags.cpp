#include "common/app_flags.h"

#include <cstdio>

#include "minidl/base/error.h"

namespace minidl::app {

data::DataSourceOptions data_source_from_flag(const std::string& value, const std::string& origin) {
  try {
    return data::DataSourceOptions::parse(value);
  } catch (const Error& e) {
    throw Error(detail::str(origin, ": ", e.what()));
  }
}

Device resolve_device(const std::string& flag, bool quiet) {
  if (flag == "auto") {
    if (cuda_available()) return Device::cuda(0);
    if (!quiet)
      std::printf("device: cpu (%s)\n", cuda_built() ? "this build has CUDA, but no GPU is visible" : "CPU-only build");
    return Device::cpu();
  }
  const Device d = Device::parse(flag);
  if (d.is_cuda()) {
    MINIDL_CHECK(cuda_built(), "--device ", flag, ": this build of minidl has no CUDA backend (rebuild with -DMINIDL_CUDA=ON)");
    MINIDL_CHECK(d.index < cuda_device_count(), "--device ", flag, ": no such GPU (", cuda_device_count(), " visible)");
  }
  return d;
}

}  // namespace minidl::app
