// Helpers for the emulator's tests.
#pragma once

#include <catch2/catch.hpp>
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "cuda_emu/emulator.h"

// Sets the emulator up for one test (a clean error state and the given settings) and puts
// everything back afterwards.
class EmuTest {
 public:
  explicit EmuTest(const emu::Settings& s) : saved_(emu::settings()) {
    emu::clear_error();
    emu::set_settings(s);
  }
  EmuTest() : EmuTest(emu::settings()) {}
  ~EmuTest() {
    cudaDeviceSynchronize();
    emu::clear_error();
    emu::set_settings(saved_);
  }
  // Switches settings mid-test (queued work first runs under the old ones).
  void set(const emu::Settings& s) {
    cudaDeviceSynchronize();
    emu::clear_error();
    emu::set_settings(s);
  }

 private:
  emu::Settings saved_;
};

inline emu::Settings with(void (*f)(emu::Settings&)) {
  emu::Settings s = emu::settings();
  f(s);
  return s;
}

// A device array of floats.
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : n_(n) { REQUIRE(cudaMalloc(reinterpret_cast<void**>(&p_), n * 4) == cudaSuccess); }
  explicit DeviceArray(const std::vector<float>& v) : DeviceArray(v.size()) { upload(v); }
  ~DeviceArray() { release(); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  void release() {
    if (p_) cudaFree(p_);
    p_ = nullptr;
  }
  void upload(const std::vector<float>& v) {
    REQUIRE(cudaMemcpy(p_, v.data(), v.size() * 4, cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<float> download() const {
    std::vector<float> v(n_);
    REQUIRE(cudaMemcpy(v.data(), p_, n_ * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    return v;
  }
  float* get() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_;
  float* p_ = nullptr;
};

inline std::vector<float> iota_values(std::size_t n, float scale = 1.f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * float(int(i % 97) - 48);
  return v;
}

// Bit-for-bit equality (NaN equals the same NaN).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

inline bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// Checks that a call gave the error `want` and that the emulator's message says each of `says`.
inline void check_error(cudaError_t got, cudaError_t want, std::initializer_list<const char*> says) {
  CHECK(got == want);
  const std::string m = emu::last_error_message();
  INFO(m);
  for (const char* part : says) CHECK(contains(m, part));
}
