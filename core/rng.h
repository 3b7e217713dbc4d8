// A seeded random number generator with a small, saveable state, so that a checkpoint can hold
// it and a resumed run draws the same numbers as an uninterrupted one.
#pragma once

#include <array>
#include <cstdint>

namespace minidl {

// xoshiro256** (Blackman & Vigna), seeded through splitmix64.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0x5eed) { seed_(seed); }
  void seed_(std::uint64_t seed);

  std::uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  double normal();
  // Uniform integer in [0, n).
  std::uint64_t randint(std::uint64_t n);

  // The whole state: 4 words of xoshiro, and the cached normal (flag and value bits).
  using State = std::array<std::uint64_t, 6>;
  State state() const;
  void set_state(const State& s);

 private:
  std::uint64_t s_[4];
  bool has_cached_normal_ = false;
  double cached_normal_ = 0.0;
};

// The process-wide generator that layers draw their initial weights from (torch.manual_seed).
Generator& default_generator();
void manual_seed(std::uint64_t seed);

// Hashes several integers into one seed: derived streams (per epoch, per sample) that do not
// depend on the order in which threads ask for them.
std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0, std::uint64_t d = 0);

}  // namespace minidl
