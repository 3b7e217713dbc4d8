// A library handle (cuDNN's) made on first use rather than when the device's context is made,
// so that a program that never reaches the library never needs it: the CUDA context, cuBLAS
// and minidl's own kernels keep working on a machine where the library cannot be loaded. If
// making it fails, the failure becomes one message that names the library and what to do, and
// every later use throws that same message again without retrying (a training loop would
// otherwise retry, and fail differently, on every step).
//
// Plain C++ with no CUDA header, so the CPU-only test suite checks it (tests/cuda/test_lazy_handle.cpp).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

namespace minidl::kernels::cuda::detail {

template <typename Handle, typename ErrorT>
class LazyHandle {
 public:
  // library: what to name in the message ("cuDNN (libcudnn.so.9)"); hint: what the user can do.
  LazyHandle(std::string library, std::string hint, std::function<Handle()> create)
      : library_(std::move(library)), hint_(std::move(hint)), create_(std::move(create)) {}
  LazyHandle(const LazyHandle&) = delete;
  LazyHandle& operator=(const LazyHandle&) = delete;

  // The handle, made by the first call; throws ErrorT with the first failure's message.
  Handle get() {
    if (ready_.load(std::memory_order_acquire)) return handle_;
    std::lock_guard<std::mutex> lock(mutex_);
    if (ready_.load(std::memory_order_relaxed)) return handle_;
    if (!failure_.empty()) throw ErrorT(failure_);
    try {
      handle_ = create_();
    } catch (const std::exception& e) {
      failure_ = library_ + " could not be initialised, so the operations that use it cannot run: " + e.what() +
                 ". " + hint_;
      throw ErrorT(failure_);
    }
    ready_.store(true, std::memory_order_release);
    return handle_;
  }

  bool created() const { return ready_.load(std::memory_order_acquire); }
  // The message get() throws, empty until a creation has failed.
  std::string failure() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failure_;
  }

 private:
  std::string library_, hint_;
  std::function<Handle()> create_;
  mutable std::mutex mutex_;
  std::atomic<bool> ready_{false};
  Handle handle_{};
  std::string failure_;
};

}  // namespace minidl::kernels::cuda::detail
