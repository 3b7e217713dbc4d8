// How the data layer reports bad input: a minidl::DataError whose message starts with where
// (file, and line, image or item index) and says what was wrong, compiler style:
//   "train.csv:17: expected 2304 pixel values, found 2303"
#pragma once

#include <string>

#include "minidl/base/error.h"

namespace minidl::data {

template <typename... Args>
[[noreturn]] void throw_data_error(const Args&... args) {
  throw DataError(detail::str(args...));
}

}  // namespace minidl::data
