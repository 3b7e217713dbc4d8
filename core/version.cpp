#include "minidl/core/version.h"

#include "minidl/config.h"

namespace minidl {

const char* version() { return MINIDL_VERSION; }

const char* build_info() {
#if MINIDL_WITH_CUDA && MINIDL_WITH_CUDNN
  return "minidl " MINIDL_VERSION " (CPU with OpenBLAS; CUDA with cuBLAS and cuDNN)";
#elif MINIDL_WITH_CUDA
  return "minidl " MINIDL_VERSION " (CPU with OpenBLAS; CUDA with cuBLAS, no cuDNN)";
#else
  return "minidl " MINIDL_VERSION " (CPU with OpenBLAS; no CUDA)";
#endif
}

}  // namespace minidl
