// Storage: one block of memory on one device, shared by the tensors that view it.
#pragma once

#include <cstddef>
#include <memory>

#include "minidl/core/allocator.h"
#include "minidl/core/device.h"

namespace minidl {

class Storage {
 public:
  Storage(std::size_t nbytes, Device device)
      : nbytes_(nbytes), device_(device), allocator_(&allocator_for(device)) {
    data_ = nbytes ? allocator_->allocate(nbytes) : nullptr;
  }
  ~Storage() {
    if (data_) allocator_->deallocate(data_, nbytes_);
  }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_;
  Device device_;
  Allocator* allocator_;
};

}  // namespace minidl
