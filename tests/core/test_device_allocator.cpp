// A GPU's caching allocator (make_device_allocator) over a stand-in for the driver: each raw
// allocation and free happens on the allocator's own device, and the device that was current
// before is current again afterwards, also when the driver says out of memory. Without the
// restore, allocating a tensor for GPU 1 moved every later launch of a program working on GPU 0
// onto GPU 1.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <vector>

#include "minidl/core/allocator.h"
#include "minidl/base/error.h"

using namespace minidl;

namespace {

int g_current = 0;
std::vector<int> g_malloc_on, g_free_on;  // the device current at each raw call
bool g_refuse = false;

int fake_current() { return g_current; }
void fake_set(int d) { g_current = d; }
void* fake_malloc(std::size_t n) {
  g_malloc_on.push_back(g_current);
  return g_refuse ? nullptr : std::malloc(n);
}
void fake_free(void* p) {
  g_free_on.push_back(g_current);
  std::free(p);
}
const DeviceMemoryApi kFake{&fake_current, &fake_set, &fake_malloc, &fake_free};

}  // namespace

TEST_CASE("device allocator: raw calls run on its device and the current device is restored", "[allocator]") {
  g_current = 0;
  g_malloc_on.clear();
  g_free_on.clear();
  g_refuse = false;
  auto gpu1 = make_device_allocator("CUDA", 1, kFake);
  void* p = gpu1->allocate(1000);
  CHECK(g_current == 0);
  CHECK(g_malloc_on == std::vector<int>{1});
  gpu1->deallocate(p, 1000);
  gpu1->empty_cache();  // the cached block goes back to the driver: a raw free on device 1
  CHECK(g_current == 0);
  CHECK(g_free_on == std::vector<int>{1});

  // Already on the device: no switch either way.
  g_current = 1;
  void* q = gpu1->allocate(5000);
  CHECK(g_current == 1);
  gpu1->deallocate(q, 5000);
  gpu1->empty_cache();

  // The driver refuses: the error still leaves the caller on its own device.
  g_current = 2;
  g_refuse = true;
  CHECK_THROWS_AS(gpu1->allocate(1 << 20), OutOfMemoryError);
  CHECK(g_current == 2);
  CHECK(g_malloc_on.back() == 1);
  g_refuse = false;
}
