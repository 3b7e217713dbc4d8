// Asking for a GPU where there is none is answered in words, not in CUDA error codes.
#include <catch2/catch.hpp>

#include "minidl/core/device.h"
#include "minidl/core/tensor.h"
#include "minidl/layers/linear.h"

using namespace minidl;
using Catch::Matchers::Contains;

TEST_CASE("device: a GPU that is not there is named in words", "[device]") {
  Tensor x = Tensor::ones({2, 2});
  Linear model(2, 2);
  if (!cuda_built()) {
    CHECK_THROWS_WITH(x.to(Device::cuda()), Contains("cuda:0") && Contains("no CUDA backend"));
    CHECK_THROWS_WITH(model.to(Device::cuda(1)), Contains("cuda:1") && Contains("no CUDA backend"));
    return;
  }
  const int n = cuda_device_count();
  // Past the last GPU: named with the GPUs there are (runs with or without a GPU).
  CHECK_THROWS_WITH(x.to(Device::cuda(n + 3)), Contains(Device::cuda(n + 3).str()) && Contains("sees"));
  if (n > 0) return;  // with a GPU (or the emulator's), the no-GPU message has nothing to say
  CHECK_THROWS_WITH(x.to(Device::cuda()),
                    Contains("asked for cuda:0 but this process sees no GPU") && Contains("--device cpu"));
  CHECK_THROWS_WITH(Tensor::zeros({3}, DType::Float32, Device::cuda()), Contains("sees no GPU"));
  CHECK_THROWS_WITH(model.to(Device::cuda()), Contains("sees no GPU"));
  CHECK_THROWS_WITH(x.to(Device::cuda()), !Contains("cudaError"));
}
