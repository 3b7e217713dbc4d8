#include "minidl/base/error.h"

namespace minidl::detail {

// The message is what a user reads; file and line are kept out of it (they mean nothing to a
// user) except in debug builds, where they help the person fixing minidl.
void throw_error([[maybe_unused]] const char* file, [[maybe_unused]] int line, const std::string& msg) {
#ifndef NDEBUG
  throw Error(msg + " [" + file + ":" + std::to_string(line) + "]");
#else
  throw Error(msg);
#endif
}

}  // namespace minidl::detail
