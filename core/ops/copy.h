// Internal to core: the memory operations behind Tensor's own methods (fill_, copy_, item(),
// to_vector(), to()), dispatched here like every other op so that core/tensor.cpp never looks
// at a device. Not installed.
#pragma once

#include <cstddef>

#include "minidl/core/tensor.h"

namespace minidl::ops_detail {

// Copies bytes between any two devices. A copy into the host waits for the device (the caller
// reads the result next), and is then where errors reported by kernels surface
// (device_check.h).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes);
// src's bytes into host memory: a read by the host, counted by host_reads().
void read_to_host(void* dst, const Tensor& src, std::size_t bytes);
// Every element of t = value (rounded to t's dtype).
void fill(const Tensor& t, double value);
// dst = src converted to dst's dtype (same number of elements; CPU tensors).
void convert(const Tensor& src, const Tensor& dst);

}  // namespace minidl::ops_detail
