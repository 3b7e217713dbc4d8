// Writing a file so that a reader (or a crash) only ever sees the old file or the whole new
// one: the bytes go to PATH.tmp.PID beside it, are fsync'ed, and the temporary file is renamed
// over PATH (then the directory is synced). A failure at any step throws minidl::Error naming
// PATH, the step and errno's message, and leaves PATH as it was and no temporary file behind.
#pragma once

#include <cstddef>
#include <string>

namespace minidl {

class AtomicFile {
 public:
  // `what` starts every error message ("save_safetensors", "export_onnx").
  AtomicFile(std::string path, std::string what);
  ~AtomicFile();  // removes the temporary file unless commit() went through
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  // Syncs, closes and renames over the destination.
  void commit();

 private:
  [[noreturn]] void fail(const std::string& msg) const;
  std::string path_, tmp_, what_;
  int fd_ = -1;
  bool committed_ = false;
};

// The whole file at once.
void write_file_atomic(const std::string& path, const void* data, std::size_t size, const std::string& what);

}  // namespace minidl
