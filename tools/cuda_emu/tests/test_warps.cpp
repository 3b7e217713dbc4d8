// Warp collectives honour their mask, and lanes that do not take part read as poison.
#include <numeric>

#include "planted.h"
#include "util.h"

namespace {
emu::Settings warp_masks(bool on) {
  emu::Settings s = emu::settings();
  s.warp_masks = on;
  return s;
}

// D = C + A B for a 16 x k A, a k x 8 B and a 16 x 8 C (row-major), summed in double: what an
// m16n8k<k> mma.sync must give for operands whose products and sums are exact.
std::vector<float> mma_reference(const std::vector<float>& a, const std::vector<float>& b,
                                 const std::vector<float>& c, int k) {
  std::vector<float> d(16 * 8);
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      double s = c[m * 8 + n];
      for (int i = 0; i < k; ++i) s += double(a[m * k + i]) * b[i * 8 + n];
      d[m * 8 + n] = float(s);
    }
  return d;
}
}  // namespace

TEST_CASE("warps: a full-mask shuffle in a partial warp reads the missing lanes as NaN", "[emu][warp]") {
  const std::vector<float> x = iota_values(48);
  const float warp0 = std::accumulate(x.begin(), x.begin() + 32, 0.f);
  DeviceArray dx(x), out(48);

  EmuTest t(warp_masks(true));
  REQUIRE(planted::warp_sum_full_mask(dx.get(), out.get(), 48, nullptr) == cudaSuccess);
  std::vector<float> got = out.download();
  for (int i = 0; i < 32; ++i) CHECK(got[i] == warp0);      // the full warp is right
  for (int i = 32; i < 48; ++i) CHECK(std::isnan(got[i]));  // lanes 48..63 do not exist

  // Without the model, a missing lane gives back the caller's own value: a finite, wrong sum.
  t.set(warp_masks(false));
  REQUIRE(planted::warp_sum_full_mask(dx.get(), out.get(), 48, nullptr) == cudaSuccess);
  got = out.download();
  for (int i = 32; i < 48; ++i) CHECK(std::isfinite(got[i]));
}

TEST_CASE("warps: a shuffle reading a lane outside its mask reads NaN", "[emu][warp]") {
  const std::vector<float> x = iota_values(32);
  const float half = std::accumulate(x.begin(), x.begin() + 16, 0.f);
  DeviceArray dx(x), out(32);

  EmuTest t(warp_masks(true));
  REQUIRE(planted::half_warp_sum(dx.get(), out.get(), false, nullptr) == cudaSuccess);  // correct: offsets 8..1
  std::vector<float> got = out.download();
  for (int i = 0; i < 16; ++i) CHECK(got[i] == half);
  REQUIRE(planted::half_warp_sum(dx.get(), out.get(), true, nullptr) == cudaSuccess);  // the bug: offset 16
  got = out.download();
  for (int i = 0; i < 16; ++i) CHECK(std::isnan(got[i]));

  t.set(warp_masks(false));
  REQUIRE(planted::half_warp_sum(dx.get(), out.get(), true, nullptr) == cudaSuccess);
  got = out.download();
  for (int i = 0; i < 16; ++i) CHECK(std::isfinite(got[i]));
}

TEST_CASE("warps: correct collectives give CUDA's answers", "[emu][warp]") {
  EmuTest t;
  std::vector<float> x = iota_values(32);
  DeviceArray dx(x), out(32);
  // __shfl_down_sync past the end of the warp returns the caller's own value (defined, no poison).
  REQUIRE(planted::warp_sum_shfl_down(dx.get(), out.get(), nullptr) == cudaSuccess);
  CHECK(out.download()[0] == std::accumulate(x.begin(), x.end(), 0.f));
  // A ballot over lanes 0..15 has no bits from lanes 16..31.
  for (int i = 0; i < 32; ++i) x[i] = (i % 3 == 0) ? 1.f : -1.f;
  dx.upload(x);
  REQUIRE(planted::half_warp_ballot(dx.get(), out.get(), nullptr) == cudaSuccess);
  unsigned want = 0;
  for (int i = 0; i < 16; ++i)
    if (i % 3 == 0) want |= 1u << i;
  const std::vector<float> got = out.download();
  for (int i = 0; i < 16; ++i) CHECK(got[i] == float(want));
}

TEST_CASE("warps: a mask that leaves out the calling lane is an error", "[emu][warp]") {
  EmuTest t;
  DeviceArray out(32);
  REQUIRE(planted::shuffle_mask_without_caller(out.get(), nullptr) == cudaSuccess);
  check_error(cudaDeviceSynchronize(), cudaErrorLaunchFailure,
              {"mask_without_caller_kernel", "does not include its own lane"});
}

TEST_CASE("warps: a bf16 mma.sync.m16n8k16 multiplies the fragments the PTX ISA lays out", "[emu][warp][mma]") {
  // Small multiples of 1/4: exact in bf16, and every sum is exact in float, so d is exact.
  std::vector<float> a(16 * 16), b(16 * 8), c(16 * 8);
  for (int i = 0; i < 256; ++i) a[i] = float((i * 7) % 13 - 6) / 4;
  for (int i = 0; i < 128; ++i) b[i] = float((i * 5) % 11 - 5) / 4;
  for (int i = 0; i < 128; ++i) c[i] = float(i % 9 - 4);
  const std::vector<float> want = mma_reference(a, b, c, 16);
  DeviceArray da(a), db(b), dc(c), dd(16 * 8);

  EmuTest t;
  REQUIRE(planted::mma_bf16_tile(da.get(), db.get(), dc.get(), dd.get(), 32, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  std::vector<float> got = dd.download();
  for (int i = 0; i < 128; ++i) {
    INFO("d(" << i / 8 << ", " << i % 8 << ")");
    CHECK(got[i] == want[i]);
  }

  // Half a warp: the instruction needs all 32 lanes, and the missing lanes' fragments read as
  // NaN. Lanes 0..15 hold rows 0..3 and 8..11 of A (all of them) but only columns 0..3 of B, so
  // what they get is right in columns 0..3 and NaN in columns 4..7; rows 4..7 and 12..15 belong to
  // the missing lanes and are not written.
  dd.upload(std::vector<float>(128, 0.f));
  REQUIRE(planted::mma_bf16_tile(da.get(), db.get(), dc.get(), dd.get(), 16, nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  got = dd.download();
  for (int i = 0; i < 128; ++i) {
    const int row = i / 8, col = i % 8;
    INFO("d(" << row << ", " << col << ")");
    if (row % 8 >= 4)
      CHECK(got[i] == 0.f);
    else if (col >= 4)
      CHECK(std::isnan(got[i]));
    else
      CHECK(got[i] == want[i]);
  }
}

TEST_CASE("warps: a tf32 mma.sync.m16n8k8 multiplies the fragments the PTX ISA lays out, ignoring the low bits",
          "[emu][warp][mma]") {
  std::vector<float> a(16 * 8), b(8 * 8), c(16 * 8);
  for (int i = 0; i < 128; ++i) a[i] = float((i * 7) % 13 - 6) / 4;  // exact in tf32, exact sums
  for (int i = 0; i < 64; ++i) b[i] = float((i * 5) % 11 - 5) / 4;
  for (int i = 0; i < 128; ++i) c[i] = float(i % 9 - 4);
  const std::vector<float> want = mma_reference(a, b, c, 8);
  DeviceArray da(a), db(b), dc(c), dd(16 * 8);
  EmuTest t;
  REQUIRE(planted::mma_tf32_tile(da.get(), db.get(), dc.get(), dd.get(), nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  std::vector<float> got = dd.download();
  for (int i = 0; i < 128; ++i) {
    INFO("d(" << i / 8 << ", " << i % 8 << ")");
    CHECK(got[i] == want[i]);
  }

  // 1 + 2^-20 has a bit below tf32's 10 explicit mantissa bits: the instruction reads it as 1.
  a.assign(16 * 8, 0.f);
  b.assign(8 * 8, 0.f);
  a[0] = 1.f + std::ldexp(1.f, -20);
  b[0] = 1.f;
  da.upload(a);
  db.upload(b);
  dc.upload(std::vector<float>(16 * 8, 0.f));
  REQUIRE(planted::mma_tf32_tile(da.get(), db.get(), dc.get(), dd.get(), nullptr) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  CHECK(dd.download()[0] == 1.f);
}
