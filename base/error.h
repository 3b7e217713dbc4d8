// Errors. Every failure in minidl is a minidl::Error (or a typed subclass) whose message says
// what was being done, with which shapes or files, and what was expected.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>

namespace minidl {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A file, CSV row or image that cannot be read as what it claims to be.
class DataError : public Error {
 public:
  using Error::Error;
};

class CudaError : public Error {
 public:
  using Error::Error;
};
class CudnnError : public Error {
 public:
  using Error::Error;
};
class CublasError : public Error {
 public:
  using Error::Error;
};

// An allocation that did not fit: says how many bytes were asked for and how many are in use.
class OutOfMemoryError : public Error {
 public:
  OutOfMemoryError(const std::string& what, std::size_t requested, std::size_t in_use)
      : Error(what), requested_bytes(requested), in_use_bytes(in_use) {}
  std::size_t requested_bytes;
  std::size_t in_use_bytes;
};

namespace detail {
// Builds a message from any streamable pieces: str("conv2d: expected ", 4, " dims").
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace minidl

// MINIDL_CHECK(cond, "op: ", what, ...) throws minidl::Error with the message when cond fails.
#define MINIDL_CHECK(cond, ...)                                                      \
  do {                                                                               \
    if (!(cond)) ::minidl::detail::throw_error(__FILE__, __LINE__, ::minidl::detail::str(__VA_ARGS__)); \
  } while (0)

#define MINIDL_FAIL(...) ::minidl::detail::throw_error(__FILE__, __LINE__, ::minidl::detail::str(__VA_ARGS__))
