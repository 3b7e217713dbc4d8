// The lazily made library handle behind the CUDA context's cuDNN handle (kernels/cuda/
// lazy_handle.h): nothing is made until first use, a failure becomes one message naming the
// library and the way out, and later uses get that same message without another attempt.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "minidl/base/error.h"
#include "minidl/kernels/cuda/lazy_handle.h"

using minidl::CudnnError;
using minidl::kernels::cuda::detail::LazyHandle;
using Catch::Matchers::Contains;

TEST_CASE("lazy handle: made on first use, once, even from several threads", "[cuda-context]") {
  int made = 0;
  LazyHandle<int, CudnnError> h("libfake.so.9", "hint", [&] { return ++made * 10; });
  CHECK(made == 0);
  CHECK_FALSE(h.created());
  std::vector<std::thread> threads;
  std::vector<int> got(8, -1);
  for (int i = 0; i < 8; ++i) threads.emplace_back([&, i] { got[i] = h.get(); });
  for (auto& t : threads) t.join();
  CHECK(made == 1);
  CHECK(got == std::vector<int>(8, 10));
  CHECK(h.created());
  CHECK(h.failure().empty());
}

TEST_CASE("lazy handle: a library that does not load gives one message naming it, every time", "[cuda-context]") {
  int attempts = 0;
  LazyHandle<int, CudnnError> h("cuDNN (libcudnn.so.9)", "use the native kernels", [&]() -> int {
    ++attempts;
    throw minidl::Error("cudnnCreate failed: libcudnn_graph.so.9: cannot open shared object file");
  });
  std::string first, second;
  try {
    h.get();
  } catch (const CudnnError& e) {
    first = e.what();
  }
  try {
    h.get();
  } catch (const CudnnError& e) {
    second = e.what();
  }
  CHECK_THAT(first, Contains("cuDNN (libcudnn.so.9) could not be initialised") &&
                        Contains("libcudnn_graph.so.9: cannot open shared object file") &&
                        Contains("use the native kernels"));
  CHECK(second == first);
  CHECK(attempts == 1);
  CHECK_FALSE(h.created());
  CHECK(h.failure() == first);
}
