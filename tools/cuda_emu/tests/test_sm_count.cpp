// The emulated device's multiprocessor count decides grid shapes, as on a GPU.
#include <cstdlib>

#include "planted.h"
#include "util.h"

TEST_CASE("SM count: MINIDL_EMU_SM_COUNT, else an H200's 132", "[emu][sm]") {
  // scripts/emu.sh sets the variable (to 132 unless told otherwise); a plain run has the default.
  const char* env = std::getenv("MINIDL_EMU_SM_COUNT");
  const int want = env ? std::atoi(env) : 132;
  int sms = 0;
  REQUIRE(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) == cudaSuccess);
  CHECK(sms == want);
}

TEST_CASE("SM count: a buffer sized for a small GPU overflows at 132 SMs", "[emu][sm]") {
  const std::vector<float> x = iota_values(100000, 0.01f);
  double want = 0;
  for (float v : x) want += v;
  DeviceArray dx(x), partial(64), out(1);

  // At the old emulator's 4 SMs the first pass has 8 blocks: the 64-slot buffer holds them.
  EmuTest t(with([](emu::Settings& s) { s.sm_count = 4; }));
  REQUIRE(planted::sum_with_fixed_partials(dx.get(), int(x.size()), partial.get(), out.get(), nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(out.download()[0] == Approx(want).epsilon(1e-4));

  // An H200's 132 SMs make it 264 blocks.
  t.set(with([](emu::Settings& s) { s.sm_count = 132; }));
  REQUIRE(planted::sum_with_fixed_partials(dx.get(), int(x.size()), partial.get(), out.get(), nullptr) == cudaSuccess);
  check_error(cudaDeviceSynchronize(), cudaErrorIllegalAddress,
              {"partial_sum_kernel", "grid (264,1,1)", "past its end"});
}
