#include "minidl/core/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "minidl/base/error.h"
#include "minidl/core/atomic_file.h"

namespace minidl {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

[[noreturn]] void not_regular(const std::string& path, mode_t mode, bool via_link) {
  throw DataError(detail::str(path, ": is ", kind_of(mode), via_link ? " (through a symbolic link)" : "",
                              ", expected a regular file"));
}

}  // namespace

int open_regular_file(const std::string& path) {
  // stat first, so that a device is never even opened; fstat after, against a swap in between.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw DataError(detail::str(path, ": cannot open (", std::strerror(errno), ")"));
  struct stat lst {};
  const bool via_link = ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode);
  if (!S_ISREG(st.st_mode)) not_regular(path, st.st_mode, via_link);
  // O_NONBLOCK: if a FIFO took the file's place after the stat, open must not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw DataError(detail::str(path, ": cannot open (", std::strerror(errno), ")"));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    not_regular(path, st.st_mode, via_link);
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

std::string read_regular_file(const std::string& path) {
  const int fd = open_regular_file(path);
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw DataError(detail::str(path, ": read error (", std::strerror(err), ")"));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string not_regular_kind(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return "";
  return kind_of(st.st_mode);
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size(), "write");
}

}  // namespace minidl
