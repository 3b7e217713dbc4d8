// Launch configuration: what a GPU refuses to launch, the emulator refuses too (the old emulator
// ran every one of these kernels).
#include <initializer_list>

#include "planted.h"
#include "util.h"

namespace {
// Checks that the launch is refused with `code`, by the launch itself or at the next
// synchronisation, and that the message says each of `says`.
void check_refused(cudaError_t launch, cudaError_t code, std::initializer_list<const char*> says) {
  check_error(launch != cudaSuccess ? launch : cudaDeviceSynchronize(), code, says);
}
}  // namespace

TEST_CASE("launch: more threads than the kernel's __launch_bounds__", "[emu][launch]") {
  EmuTest t;
  DeviceArray y(256);
  check_refused(planted::past_launch_bounds(y.get(), nullptr), cudaErrorLaunchOutOfResources,
                {"bounded_kernel", "256 threads per block, more than its __launch_bounds__(128)"});
}

TEST_CASE("launch: more than 1024 threads per block", "[emu][launch]") {
  EmuTest t;
  DeviceArray y(2048);
  check_refused(planted::too_many_threads(y.get(), nullptr), cudaErrorInvalidConfiguration,
                {"fill_kernel", "block (2048,1,1)"});
}

TEST_CASE("launch: dynamic shared memory past 48 KiB needs cudaFuncSetAttribute", "[emu][launch][shared]") {
  EmuTest t;
  DeviceArray y(256);
  check_refused(planted::large_dynamic_shared(y.get(), false, nullptr), cudaErrorInvalidConfiguration,
                {"dynamic_shared_kernel", "more than 48 KiB of dynamic shared memory"});

  // With the attribute raised first, the same launch runs and gives the right answer.
  t.set(emu::settings());
  REQUIRE(planted::large_dynamic_shared(y.get(), true, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  const std::vector<float> v = y.download();
  for (int i = 0; i < 256; ++i) CHECK(v[std::size_t(i)] == float(255 - i));
}
