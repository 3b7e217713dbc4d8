// The caching allocator's private pools (core/allocator.h), which CUDA graphs keep their memory
// in: a block handed out during a pool's capture and freed goes back to the pool, not to the
// shared cache, until the pool is released. Runs on the CPU (an allocator over malloc); the CUDA
// graph tests (tests/cuda/test_cuda_graph.cpp) show the same on a GPU's stream.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "minidl/base/error.h"
#include "minidl/core/allocator.h"

using namespace minidl;

TEST_CASE("allocator pools: blocks freed in a pool stay the pool's until it is released", "[allocator]") {
  CachingAllocator a("test", [](std::size_t n) { return std::malloc(n); }, [](void* p) { std::free(p); });
  void* before = a.allocate(1000);
  a.deallocate(before, 1000);  // a cached block of that size, in the shared cache

  const std::uint64_t pool = a.new_pool();
  a.begin_pool(pool);
  void* captured = a.allocate(1000);  // taken from the shared cache into the pool
  CHECK(captured == before);
  a.deallocate(captured, 1000);  // freed during the capture: back to the pool
  void* again = a.allocate(1000);  // the capture itself may reuse it
  CHECK(again == captured);
  a.deallocate(again, 1000);
  a.end_pool();

  // Outside the capture the pool's block is not handed out: a fresh one is.
  const std::size_t system_before = a.stats().system_allocs;
  void* outside = a.allocate(1000);
  CHECK(outside != captured);
  CHECK(a.stats().system_allocs == system_before + 1);
  a.empty_cache();  // leaves the pool's blocks alone (the graph would still write them)

  a.release_pool(pool);  // the graph is gone: the block may serve anyone now
  void* later = a.allocate(1000);
  CHECK(later == captured);
  a.deallocate(later, 1000);
  a.deallocate(outside, 1000);

  CHECK_THROWS_WITH(a.begin_pool(pool), Catch::Matchers::Contains("a released pool cannot be used again"));
}
