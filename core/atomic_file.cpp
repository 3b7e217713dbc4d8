#include "minidl/core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "minidl/base/error.h"
#include "minidl/core/file_io.h"

namespace minidl {

namespace {

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path, std::string what, bool durable, Faults faults)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())), what_(std::move(what)),
      durable_(durable) {
  check_replaceable();
  // O_NOFOLLOW: a symlink planted at the temporary name is not followed.
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd_ < 0) {
    const int err = errno;
    const std::string dir = directory_of(path_);
    struct stat st {};
    if (err == ENOENT && ::stat(dir.c_str(), &st) != 0) fail("the directory '" + dir + "' does not exist");
    fail("cannot create the temporary file '" + tmp_ + "': " + std::strerror(err));
  }
  if (faults == Faults::Checkpoint) fault_ = fault::CheckpointWrite::begin(path_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::fail(const std::string& msg) { throw Error(what_ + " '" + path_ + "': " + msg); }

void AtomicFile::check_replaceable() {
  // A folder is left to rename, which refuses to replace one.
  const std::string kind = not_regular_kind(path_);
  if (!kind.empty() && kind != "a folder") fail("is " + kind + "; refusing to replace it (expected a regular file or nothing)");
}

void AtomicFile::write(const void* data, std::size_t n) {
  MINIDL_CHECK(fd_ >= 0, what_, " '", path_, "': write after commit");
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const std::size_t chunk = fault_.allowed(std::min<std::size_t>(n, std::size_t{1} << 30));
    const ssize_t put = ::write(fd_, p, chunk);
    if (put < 0) {
      if (errno == EINTR) continue;
      fail("writing '" + tmp_ + "' failed: " + std::strerror(errno));
    }
    fault_.wrote(static_cast<std::size_t>(put));
    p += put;
    n -= static_cast<std::size_t>(put);
  }
}

void AtomicFile::commit() {
  MINIDL_CHECK(fd_ >= 0, what_, " '", path_, "': committed twice");
  if (durable_ && ::fsync(fd_) != 0) fail("fsync of '" + tmp_ + "' failed: " + std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("closing '" + tmp_ + "' failed: " + std::strerror(errno));  // write-back errors surface here
  fault_.reached(fault::Point::TempWritten);
  check_replaceable();  // what is there may have changed since the constructor looked
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("renaming '" + tmp_ + "' over it failed: " + std::strerror(errno));
  committed_ = true;
  fault_.reached(fault::Point::Renamed);
  if (!durable_) return;
  // Make the rename itself durable. Best effort where the directory cannot be opened or the
  // file system does not sync directories; a real I/O error is reported.
  const int dfd = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const bool bad = ::fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP;
    const int err = errno;
    ::close(dfd);
    if (bad) fail(std::string("written, but syncing its directory failed: ") + std::strerror(err));
  }
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size, const std::string& what,
                       bool durable) {
  AtomicFile f(path, what, durable);
  f.write(data, size);
  f.commit();
}

}  // namespace minidl
