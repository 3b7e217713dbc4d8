// Writing a file so that a reader (or a crash) only ever sees the old file or the whole new
// one: the bytes go to PATH.tmp.PID beside it, every write and the close are checked (a full
// disk, a file size limit or a quota fails with the path and the system's reason), the file is
// fsync'ed, and the temporary file is renamed over PATH (then the directory is synced). Only a
// regular file (or nothing) is replaced: never a device, a FIFO, a folder or a symbolic link.
// A failure at any step throws minidl::Error naming PATH, the step and errno's message, and
// leaves PATH as it was and no temporary file behind.
#pragma once

#include <cstddef>
#include <string>

#include "minidl/core/fault_injection.h"

namespace minidl {

class AtomicFile {
 public:
  // Faults::Checkpoint counts the write as a checkpoint write, which MINIDL_FAULT_CHECKPOINT can
  // stop dead after some bytes, before the rename or after it (fault_injection.h).
  enum class Faults { None, Checkpoint };
  // `what` starts every error message ("save_safetensors", "make_dataset"). durable: fsync the
  // file and its folder on commit (false for thousands of small files, such as a data set's
  // images, which a crash can only leave whole or absent).
  AtomicFile(std::string path, std::string what, bool durable = true, Faults faults = Faults::None);
  ~AtomicFile();  // removes the temporary file unless commit() went through
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  // Syncs, closes and renames over the destination.
  void commit();

 private:
  [[noreturn]] void fail(const std::string& msg);
  void check_replaceable();
  std::string path_, tmp_, what_;
  bool durable_;
  int fd_ = -1;
  bool committed_ = false;
  fault::CheckpointWrite fault_;  // no fault unless Faults::Checkpoint and MINIDL_FAULT_CHECKPOINT say so
};

// The whole file at once.
void write_file_atomic(const std::string& path, const void* data, std::size_t size, const std::string& what,
                       bool durable = true);

}  // namespace minidl
