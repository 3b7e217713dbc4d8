// Launch configuration: what a GPU refuses to launch, the emulator refuses too (the old emulator
// ran every one of these kernels).
#include "planted.h"
#include "util.h"

namespace {
// The launch's error, or else the one the next synchronisation reports, with its message.
cudaError_t error_of(cudaError_t launch, std::string* message) {
  const cudaError_t r = launch != cudaSuccess ? launch : cudaDeviceSynchronize();
  *message = emu::last_error_message();
  return r;
}
}  // namespace

TEST_CASE("launch: more threads than the kernel's __launch_bounds__", "[emu][launch]") {
  EmuTest t;
  DeviceArray y(256);
  std::string m;
  CHECK(error_of(planted::past_launch_bounds(y.get(), nullptr), &m) == cudaErrorLaunchOutOfResources);
  INFO(m);
  CHECK(contains(m, "bounded_kernel"));
  CHECK(contains(m, "256 threads per block, more than its __launch_bounds__(128)"));
}

TEST_CASE("launch: more than 1024 threads per block", "[emu][launch]") {
  EmuTest t;
  DeviceArray y(2048);
  std::string m;
  CHECK(error_of(planted::too_many_threads(y.get(), nullptr), &m) == cudaErrorInvalidConfiguration);
  INFO(m);
  CHECK(contains(m, "fill_kernel"));
  CHECK(contains(m, "block (2048,1,1)"));
}

TEST_CASE("launch: dynamic shared memory past 48 KiB needs cudaFuncSetAttribute", "[emu][launch][shared]") {
  EmuTest t;
  DeviceArray y(256);
  std::string m;
  CHECK(error_of(planted::large_dynamic_shared(y.get(), false, nullptr), &m) == cudaErrorInvalidConfiguration);
  INFO(m);
  CHECK(contains(m, "dynamic_shared_kernel"));
  CHECK(contains(m, "more than 48 KiB of dynamic shared memory"));

  // With the attribute raised first, the same launch runs and gives the right answer.
  t.set(emu::settings());
  REQUIRE(planted::large_dynamic_shared(y.get(), true, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  const std::vector<float> v = y.download();
  for (int i = 0; i < 256; ++i) CHECK(v[std::size_t(i)] == float(255 - i));
}
