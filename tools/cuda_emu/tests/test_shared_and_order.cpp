// Per-block shared memory poison, thread order between barriers, and barrier divergence.
#include "planted.h"
#include "util.h"

TEST_CASE("shared memory: slots no thread of the block wrote read as NaN", "[emu][shared]") {
  const int blocks = 3;
  const std::vector<float> x = iota_values(blocks * 128, 0.25f);
  std::vector<float> want(blocks, 0.f);
  for (int i = 0; i < blocks * 128; ++i) want[i / 128] += x[i];
  DeviceArray dx(x), out(blocks);

  EmuTest t(with([](emu::Settings& s) { s.poison_shared = true; }));
  REQUIRE(planted::block_sum_reads_unwritten_slots(dx.get(), out.get(), blocks, nullptr) == cudaSuccess);
  for (float v : out.download()) CHECK(std::isnan(v));

  // Without fresh poisoned storage per block (a plain static, as the emulator had), the unwritten
  // slots hold zeros and the bug gives the right answer.
  t.set(with([](emu::Settings& s) { s.poison_shared = false; }));
  REQUIRE(planted::block_sum_reads_unwritten_slots(dx.get(), out.get(), blocks, nullptr) == cudaSuccess);
  const std::vector<float> got = out.download();
  for (int b = 0; b < blocks; ++b) CHECK(got[b] == Approx(want[b]));
}

namespace {
std::vector<float> shift(const std::vector<float>& in, emu::Order order, std::uint64_t seed, bool barrier) {
  emu::Settings s = emu::settings();
  s.order = order;
  s.seed = seed;
  emu::set_settings(s);
  DeviceArray din(in), out(in.size());
  REQUIRE(planted::shift_through_shared(din.get(), out.get(), int(in.size() / 256), barrier, nullptr) == cudaSuccess);
  return out.download();
}
}  // namespace

TEST_CASE("thread order: a missing __syncthreads changes the result", "[emu][order]") {
  EmuTest t;
  const std::vector<float> in = iota_values(2 * 256);
  std::vector<float> want(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) want[i] = i % 256 ? in[i - 1] : 0.f;

  // In a fixed forward order (the old emulator) each thread reads its neighbour's value after
  // the neighbour wrote it: the bug is invisible.
  CHECK(shift(in, emu::Order::Forward, 0, false) == want);
  // Reversed, every read comes before the write it needs; shuffled, many do.
  CHECK(shift(in, emu::Order::Reverse, 0, false) != want);
  for (std::uint64_t seed : {1, 2, 3}) CHECK(shift(in, emu::Order::Random, seed, false) != want);
  // A seed repeats its order.
  CHECK(same_bits(shift(in, emu::Order::Random, 7, false), shift(in, emu::Order::Random, 7, false)));
  // With the barrier the kernel is right in every order: no false alarm.
  CHECK(shift(in, emu::Order::Reverse, 0, true) == want);
  for (std::uint64_t seed : {1, 2, 3}) CHECK(shift(in, emu::Order::Random, seed, true) == want);
}

TEST_CASE("barrier divergence is an error that names the kernel", "[emu][barrier]") {
  EmuTest t;
  DeviceArray out(256), in(iota_values(256));
  SECTION("a barrier inside a branch only some threads take") {
    REQUIRE(planted::barrier_in_branch(out.get(), nullptr) == cudaSuccess);
    check_error(cudaDeviceSynchronize(), cudaErrorLaunchFailure, {"barrier divergence", "barrier_in_branch_kernel"});
  }
  SECTION("threads returning before a barrier the others wait at") {
    REQUIRE(planted::early_return_before_barrier(in.get(), out.get(), 200, nullptr) == cudaSuccess);
    check_error(cudaDeviceSynchronize(), cudaErrorLaunchFailure, {"56 threads exited", "early_return_kernel"});
  }
  SECTION("two halves of the block at two different barriers") {
    REQUIRE(planted::barrier_per_branch(out.get(), nullptr) == cudaSuccess);
    check_error(cudaDeviceSynchronize(), cudaErrorLaunchFailure, {"different __syncthreads"});
  }
  SECTION("every thread reaching the barrier is fine") {
    REQUIRE(planted::early_return_before_barrier(in.get(), out.get(), 256, nullptr) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
  }
}
