// Where a tensor lives.
#pragma once

#include <cstdint>
#include <string>

namespace minidl {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  constexpr Device() = default;
  constexpr Device(DeviceType t, int i = 0) : type(t), index(i) {}
  static constexpr Device cpu() { return Device(DeviceType::CPU, 0); }
  static constexpr Device cuda(int i = 0) { return Device(DeviceType::CUDA, i); }

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && (is_cpu() || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

  // "cpu", "cuda", "cuda:1"; throws minidl::Error on anything else.
  static Device parse(const std::string& s);
};

// Whether this build has the CUDA backend, and whether a GPU is usable now. The first call of
// cuda_available() initialises the driver; nothing on the CPU path ever calls it.
bool cuda_built();
bool cuda_available();
int cuda_device_count();
// Throws minidl::Error, in words, unless `device` is the CPU or a GPU this process can use:
// no CUDA backend in this build, no GPU visible (with the driver's reason and
// CUDA_VISIBLE_DEVICES), or an index past the last GPU. Every CUDA allocation checks first.
void check_device_available(Device device);

// How many times tensor values were read into host memory (Tensor::item(), to_vector(), a copy
// of a GPU tensor to the CPU). On a GPU each read waits for the device; they are counted for CPU
// tensors too, so that a test on the CPU catches a read that would stall a GPU mid-step.
std::uint64_t host_reads();

}  // namespace minidl
