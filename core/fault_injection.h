// Deliberate crashes inside checkpoint writes, so that the crash-safety tests hit the moments
// that matter every time instead of by timing luck. Driven by one environment variable:
//
//   MINIDL_FAULT_CHECKPOINT=N:POINT   the N-th checkpoint this process writes (save_safetensors,
//                                     counted from 1) stops dead, as SIGKILL stops it, at POINT:
//     bytes=K        after K bytes of the temporary file (K >= 1; a K past the end of the file
//                    stops where temp-written does)
//     temp-written   after the temporary file is complete, synced and closed, before the rename
//     renamed        after the rename, before the directory is synced
//
// "Stops dead" is SIGKILL sent to itself: no destructor, no atexit handler, no temporary-file
// cleanup runs, exactly as when the machine's OOM killer or a user's kill -9 ends a run. Unset
// (every normal run), a write costs one getenv at the first checkpoint and nothing after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace minidl::fault {

enum class Point { None, Bytes, TempWritten, Renamed };

// The fault planned for one checkpoint write (usually none).
class CheckpointWrite {
 public:
  // Counts a checkpoint write of `path` starting in this process and returns its plan.
  static CheckpointWrite begin(const std::string& path);

  // How many of the next n bytes may be written; writing them and then calling wrote() with
  // that count stops the process when the fault's byte count is reached.
  std::size_t allowed(std::size_t n) const;
  void wrote(std::size_t n);
  // Stops the process if the fault is planned at `point`.
  void reached(Point point) const;

 private:
  std::string path_;
  Point point_ = Point::None;
  std::uint64_t stop_after_ = 0;  // for Point::Bytes
  std::uint64_t written_ = 0;
};

}  // namespace minidl::fault
