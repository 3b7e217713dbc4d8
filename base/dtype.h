// Element types. float32 is the working type; float64 exists (on the CPU) so that gradient
// checks are exact enough to mean something; int64 holds labels and counters.
#pragma once

#include <cstddef>
#include <cstdint>

namespace minidl {

enum class DType : std::uint8_t { Float32, Float64, Int64 };

constexpr std::size_t dtype_size(DType t) {
  return t == DType::Float32 ? 4 : 8;
}

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
  }
  return "?";
}

constexpr bool is_floating(DType t) { return t != DType::Int64; }

// The C++ type <-> DType mapping, for Tensor::data<T>() and the typed dispatch in ops.
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::Int64; };
template <typename T> constexpr DType dtype_v = dtype_of<T>::value;

}  // namespace minidl
