// Out of memory, the same on every device: the error names the bytes asked for and the bytes in
// use and suggests a smaller batch, whether the allocator's limit or the system (the OS, the
// CUDA driver) said no. The GPU allocator is the same CachingAllocator class as the CPU one,
// named "CUDA" over cudaMalloc, so the message tests below cover it without a GPU; the tests
// marked [cuda] repeat them on a real GPU and are skipped (minidl::test::no_gpu) where there is none.
// The whole-program path (train_resnet, exit code 2) is in test_crash_safety.cpp.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include "minidl/base/error.h"
#include "minidl/core/allocator.h"
#include "minidl/core/device.h"
#include "minidl/core/tensor.h"
#include "support.h"

using namespace minidl;
using Catch::Matchers::Contains;

namespace {

bool g_fail_raw = false;
void* flaky_malloc(std::size_t n) { return g_fail_raw ? nullptr : std::malloc(n); }
void plain_free(void* p) { std::free(p); }

// The message of the OutOfMemoryError that `allocate` throws.
template <typename F>
OutOfMemoryError oom_of(F&& allocate) {
  try {
    allocate();
  } catch (const OutOfMemoryError& e) {
    return e;
  }
  FAIL("no OutOfMemoryError");
  throw;
}

using minidl::test::no_gpu;

}  // namespace

TEST_CASE("out of memory names the bytes asked and in use, and the hint, for the CPU and CUDA allocators alike",
          "[allocator][oom]") {
  for (const char* name : {"CPU", "CUDA"}) {
    INFO(name);
    CachingAllocator a(name, &flaky_malloc, &plain_free);
    void* held = a.allocate(3000);  // 3072 bytes in use
    const std::string prefix = std::string(name) + " out of memory: tried to allocate ";

    // Over the limit.
    a.set_limit(1 << 20);
    OutOfMemoryError e = oom_of([&] { a.allocate(5'000'000); });
    CHECK(e.requested_bytes == 5'000'000);
    CHECK(e.in_use_bytes == 3072);
    CHECK_THAT(e.what(), Contains(prefix + "5000000 bytes (4.76837 MiB) with 3072 bytes") &&
                             Contains("in use and a limit of 1048576 bytes") && Contains("try a smaller batch size"));

    // The system (malloc, or cudaMalloc behind the CUDA allocator) refuses, with no limit set.
    a.set_limit(0);
    g_fail_raw = true;
    e = oom_of([&] { a.allocate(7'000'000); });
    g_fail_raw = false;
    CHECK(e.requested_bytes == 7'000'000);
    CHECK(e.in_use_bytes == 3072);
    CHECK_THAT(e.what(), Contains(prefix + "7000000 bytes") && Contains("with 3072 bytes in use") &&
                             Contains("try a smaller batch size"));

    // A failed allocation leaves the allocator usable and its counts right.
    void* p = a.allocate(1000);
    CHECK(p != nullptr);
    a.deallocate(p, 1000);
    a.deallocate(held, 3000);
    CHECK(a.stats().bytes_in_use == 0);
  }
}

TEST_CASE("memory limits from the environment: sizes with K, M, G, T suffixes, clear errors", "[allocator][oom]") {
  CHECK(parse_memory_limit("", "X") == 0);
  CHECK(parse_memory_limit("0", "X") == 0);
  CHECK(parse_memory_limit("1000000", "X") == 1000000);
  CHECK(parse_memory_limit("4K", "X") == 4096);
  CHECK(parse_memory_limit("512M", "X") == 512ull << 20);
  CHECK(parse_memory_limit("2G", "X") == 2ull << 30);
  CHECK(parse_memory_limit(" 2gib ", "X") == 2ull << 30);
  CHECK(parse_memory_limit("1T", "X") == 1ull << 40);
  for (const char* bad : {"lots", "-1", "2X", "1.5G", "3 G", "99999999999999999999", "20000000000T"}) {
    INFO(bad);
    CHECK_THROWS_WITH(parse_memory_limit(bad, "MINIDL_CUDA_MEMORY_LIMIT"),
                      Contains(std::string("MINIDL_CUDA_MEMORY_LIMIT='") + bad + "'") && Contains("2G"));
  }
}

TEST_CASE("cuda: the GPU allocator's limit and a driver refusal give the out-of-memory message", "[cuda][oom]") {
  if (no_gpu()) return;
  Allocator& a = allocator_for(Device::cuda(0));
  const AllocatorStats before = a.stats();
  a.set_limit(before.bytes_in_use + (1 << 20));
  OutOfMemoryError e = oom_of([&] { Tensor::empty({64 << 20}, DType::Float32, Device::cuda(0)); });
  a.set_limit(0);
  std::cout << "[cuda] " << e.what() << std::endl;
  CHECK(e.requested_bytes == (std::size_t{256} << 20));
  CHECK_THAT(e.what(), Contains("CUDA out of memory: tried to allocate 268435456 bytes") &&
                           Contains("try a smaller batch size"));
  // No limit: the driver itself refuses a pebibyte, and the allocator says the same.
  e = oom_of([&] { a.allocate(std::size_t{1} << 50); });
  std::cout << "[cuda] " << e.what() << std::endl;
  CHECK(e.requested_bytes == (std::size_t{1} << 50));
  CHECK_THAT(e.what(), Contains("CUDA out of memory: tried to allocate 1125899906842624 bytes") &&
                           Contains("in use") && Contains("try a smaller batch size"));
  // Still usable afterwards.
  Tensor t = Tensor::zeros({1024}, DType::Float32, Device::cuda(0));
  CHECK(t.to(Device::cpu()).to_vector<float>()[5] == 0.f);
}
