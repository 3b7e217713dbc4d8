// Shapes: a small vector of dimension sizes, printed the way PyTorch users read them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace minidl {

using Shape = std::vector<std::int64_t>;

inline std::int64_t numel_of(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// [64, 1, 7, 7]
std::string shape_str(const Shape& s);

}  // namespace minidl
