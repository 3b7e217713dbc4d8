// Reading and writing files without surprises.
//
// Reading: only regular files. A FIFO would block forever, a device such as /dev/zero (or a
// symlink to it) would never end, a folder holds no data: each is refused by name before a
// byte is read.
//
// Writing: atomically and checked, through AtomicFile (atomic_file.h): never half a file, never
// an unreported write error, never a device, FIFO or link replaced.
#pragma once

#include <string>

namespace minidl {

// Opens path for reading and checks that it is a regular file (without blocking on a FIFO).
// Throws DataError naming the file: "cannot open (No such file or directory)", "is a folder,
// expected a regular file", "is a FIFO (named pipe), expected a regular file". Returns the
// descriptor; the caller closes it.
int open_regular_file(const std::string& path);
// The whole of a regular file. Throws DataError as open_regular_file does, and on read errors.
std::string read_regular_file(const std::string& path);

// What is at path when it is neither absent nor a regular file, in words ("a FIFO (named
// pipe)", "a character device", "a symbolic link", "a folder"); empty otherwise. Does not follow
// a symbolic link: an output never replaces one.
std::string not_regular_kind(const std::string& path);

// Writes text to path through an AtomicFile (durable); errors start with "write 'path'".
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace minidl
