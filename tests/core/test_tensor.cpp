// Tensor, Storage, allocator and RNG basics.
#include <catch2/catch.hpp>

#include "minidl/core/allocator.h"
#include "minidl/core/ops.h"
#include "minidl/core/rng.h"
#include "minidl/core/tensor.h"

using namespace minidl;

TEST_CASE("tensor creation, shape and values", "[tensor]") {
  Tensor t = Tensor::full({2, 3}, 1.5);
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.numel() == 6);
  CHECK(t.dtype() == DType::Float32);
  CHECK(t.device() == Device::cpu());
  CHECK(t.size(-1) == 3);
  CHECK(t.to_vector<float>() == std::vector<float>(6, 1.5f));
  CHECK(Tensor::zeros({4}, DType::Int64).to_vector<std::int64_t>() == std::vector<std::int64_t>(4, 0));
  CHECK(Tensor::scalar(2.5, DType::Float64).item() == 2.5);
  CHECK(t.str() == "float32[2, 3] on cpu");
  CHECK_THROWS_WITH(t.size(2), Catch::Contains("out of range") && Catch::Contains("[2, 3]"));
  CHECK_THROWS_WITH(t.data<double>(), Catch::Contains("float32") && Catch::Contains("float64"));
  CHECK_THROWS_AS(Tensor().numel(), Error);
}

TEST_CASE("reshape and narrow0 are views, and clone is a copy", "[tensor]") {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor r = t.reshape({3, -1});
  CHECK(r.shape() == Shape{3, 2});
  r.data<float>()[0] = 42;
  CHECK(t.data<float>()[0] == 42);
  Tensor row = t.narrow0(1, 1);
  CHECK(row.shape() == Shape{1, 3});
  CHECK(row.to_vector<float>() == std::vector<float>{3, 4, 5});
  Tensor c = t.clone();
  c.data<float>()[1] = -1;
  CHECK(t.data<float>()[1] == 1);
  CHECK_THROWS_WITH(t.reshape({4, 2}), Catch::Contains("reshape") && Catch::Contains("[2, 3]") &&
                                           Catch::Contains("[4, 2]"));
  CHECK_THROWS_WITH(t.narrow0(1, 2), Catch::Contains("narrow0"));
  CHECK(flatten(Tensor::zeros({2, 3, 4, 5}), 1).shape() == Shape{2, 60});
}

TEST_CASE("dtype conversion round trip", "[tensor]") {
  Tensor t = Tensor::from_vector<double>({0.1, -2.5, 3e10});
  Tensor f = t.to(DType::Float32);
  CHECK(f.dtype() == DType::Float32);
  CHECK(f.to_vector<float>() == std::vector<float>{0.1f, -2.5f, 3e10f});
  Tensor back = f.to(DType::Float64);
  CHECK(back.to_vector<double>()[1] == -2.5);
  Tensor labels = Tensor::from_vector<std::int64_t>({3, 1});
  CHECK(labels.to(DType::Float32).to_vector<float>() == std::vector<float>{3, 1});
}

TEST_CASE("CPU tensors work without touching CUDA", "[tensor][device]") {
  // A CPU-only program must never initialise the driver; Device::parse is pure.
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK_THROWS_WITH(Device::parse("gpu"), Catch::Contains("unknown device 'gpu'"));
  if (!cuda_built()) CHECK_THROWS_WITH(Tensor::zeros({1}, DType::Float32, Device::cuda()), Catch::Contains("CUDA"));
}

TEST_CASE("caching allocator reuses blocks and enforces its limit", "[allocator]") {
  CachingAllocator alloc("test", [](std::size_t n) { return std::malloc(n); }, [](void* p) { std::free(p); });
  void* a = alloc.allocate(1000);
  alloc.deallocate(a, 1000);
  void* b = alloc.allocate(900);  // rounds to the same 1024-byte class
  CHECK(a == b);
  CHECK(alloc.stats().system_allocs == 1);
  CHECK(alloc.stats().bytes_in_use == CachingAllocator::round_size(900));
  alloc.deallocate(b, 900);
  alloc.set_limit(1 << 20);
  try {
    alloc.allocate(2 << 20);
    FAIL("expected OutOfMemoryError");
  } catch (const OutOfMemoryError& e) {
    CHECK(e.requested_bytes == (2u << 20));
    CHECK(std::string(e.what()).find("smaller batch") != std::string::npos);
  }
  alloc.empty_cache();
  CHECK(alloc.stats().bytes_cached == 0);
  CHECK(alloc.stats().system_frees == 1);
  for (std::size_t n : {1ul, 511ul, 4097ul, 100000ul, 3000000ul}) {
    CHECK(CachingAllocator::round_size(n) >= n);
    CHECK(CachingAllocator::round_size(n) <= n + n / 4 + 512);
  }
}

TEST_CASE("generator is deterministic, saveable and well spread", "[rng]") {
  Generator a(7), b(7);
  for (int i = 0; i < 10; ++i) CHECK(a.next_u64() == b.next_u64());
  a.normal();  // leaves a cached second normal in the state
  auto s = a.state();
  const double n1 = a.normal(), u1 = a.uniform();
  b.set_state(s);
  CHECK(b.normal() == n1);
  CHECK(b.uniform() == u1);
  Generator g(1);
  double m = 0, v = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = g.normal();
    m += x;
    v += x * x;
  }
  CHECK(std::abs(m / n) < 0.03);
  CHECK(std::abs(v / n - 1) < 0.05);
  CHECK(mix_seed(1, 2) != mix_seed(2, 1));
}
