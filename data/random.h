// The random numbers of the data layer: a counter-based stream derived by hashing (seed, and
// whatever identifies the draw: epoch, sample index, purpose). The synthetic data set and the
// augmentation are defined by these numbers, so they live here, fixed, rather than borrowing
// core's Generator: a change there must not silently change what "synthetic seed 1" means.
// Every value is produced with integer arithmetic and IEEE-exact float operations (no libm
// except log/sqrt/cos in normal()), so the same seed gives the same data on every platform.
#pragma once

#include <cmath>
#include <cstdint>

namespace minidl::data {

// splitmix64's finaliser: a bijective 64-bit mix with good avalanche.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// One 64-bit key from several integers; order matters, so (a, b) and (b, a) differ.
constexpr std::uint64_t hash_key(std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0, std::uint64_t d = 0) {
  return mix64(mix64(mix64(mix64(a) ^ b) ^ c) ^ d);
}

// A small stream of numbers for one purpose (one sample's face, one image's augmentation).
class SampleRng {
 public:
  explicit SampleRng(std::uint64_t key) : state_(key) {}
  SampleRng(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0, std::uint64_t d = 0)
      : state_(hash_key(a, b, c, d)) {}

  std::uint64_t next_u64() {
    state_ += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 24 random bits: exact in float, so float and double agree.
  double uniform() { return static_cast<double>(next_u64() >> 40) * (1.0 / 16777216.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool bernoulli(double p) { return uniform() < p; }
  // Uniform integer in [0, n) (n > 0); the modulo bias is below 2^-40 for the n used here.
  std::uint64_t below(std::uint64_t n) { return next_u64() % n; }
  // Standard normal by Box-Muller (one value per call; simple beats fast here).
  double normal() {
    double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Approximately standard normal, cheaply: the sum of four 16-bit uniforms from one draw
  // (Irwin-Hall), centred and scaled to unit variance; bounded to +-3.46. For pixel noise,
  // where Box-Muller's log would cost more than drawing the face.
  float approx_normal() {
    const std::uint64_t r = next_u64();
    const std::uint32_t sum = static_cast<std::uint32_t>(r & 0xffff) + static_cast<std::uint32_t>((r >> 16) & 0xffff) +
                              static_cast<std::uint32_t>((r >> 32) & 0xffff) + static_cast<std::uint32_t>(r >> 48);
    // sum / 65536 has mean 4 * 32767.5 / 65536 and variance (almost exactly) 4/12.
    return (static_cast<float>(sum) * (1.f / 65536.f) - 1.99996948f) * 1.7320508f;
  }
  // A normal clipped to +-limit standard deviations, so a rare draw never makes a broken face.
  double normal_clipped(double limit) {
    double v = normal();
    return v < -limit ? -limit : (v > limit ? limit : v);
  }

 private:
  std::uint64_t state_;
};

}  // namespace minidl::data
