#include "minidl/core/fault_injection.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "minidl/base/error.h"

namespace minidl::fault {

namespace {

struct Plan {
  std::int64_t write = 0;  // 0: no fault
  Point point = Point::None;
  std::uint64_t bytes = 0;
};

Plan parse(const char* v) {
  const std::string s = v;
  auto bad = [&s]() -> Plan {
    MINIDL_FAIL("MINIDL_FAULT_CHECKPOINT='", s,
                "': expected N:bytes=K, N:temp-written or N:renamed (N, K >= 1: the N-th checkpoint write stops "
                "after K bytes, before its rename, or after it)");
  };
  const auto colon = s.find(':');
  if (colon == std::string::npos || colon == 0) return bad();
  Plan p;
  char* end = nullptr;
  p.write = std::strtoll(s.c_str(), &end, 10);
  if (end != s.c_str() + colon || p.write < 1) return bad();
  const std::string what = s.substr(colon + 1);
  if (what == "temp-written") {
    p.point = Point::TempWritten;
  } else if (what == "renamed") {
    p.point = Point::Renamed;
  } else if (what.rfind("bytes=", 0) == 0 && what.size() > 6) {
    const std::string k = what.substr(6);
    const unsigned long long n = std::strtoull(k.c_str(), &end, 10);
    if (*end != '\0' || n < 1 || k[0] == '-') return bad();
    p.point = Point::Bytes;
    p.bytes = n;
  } else {
    return bad();
  }
  return p;
}

const Plan& plan() {
  static const Plan p = [] {
    const char* v = std::getenv("MINIDL_FAULT_CHECKPOINT");
    return v != nullptr && *v != '\0' ? parse(v) : Plan{};
  }();
  return p;
}

std::atomic<std::int64_t> g_writes{0};

[[noreturn]] void stop_dead(const std::string& path, const char* where) {
  std::fprintf(stderr, "minidl: MINIDL_FAULT_CHECKPOINT: stopping dead %s while writing %s\n", where, path.c_str());
  std::fflush(stderr);
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

}  // namespace

CheckpointWrite CheckpointWrite::begin(const std::string& path) {
  CheckpointWrite w;
  const Plan& p = plan();
  if (p.write == 0) return w;
  if (g_writes.fetch_add(1) + 1 != p.write) return w;
  w.path_ = path;
  w.point_ = p.point;
  w.stop_after_ = p.bytes;
  return w;
}

std::size_t CheckpointWrite::allowed(std::size_t n) const {
  if (point_ != Point::Bytes) return n;
  const std::uint64_t left = stop_after_ - written_;
  return left < n ? static_cast<std::size_t>(left) : n;
}

void CheckpointWrite::wrote(std::size_t n) {
  if (point_ != Point::Bytes) return;
  written_ += n;
  if (written_ >= stop_after_) stop_dead(path_, ("after " + std::to_string(written_) + " bytes").c_str());
}

void CheckpointWrite::reached(Point point) const {
  if (point_ == Point::None) return;
  // A byte count past the end of the file stops before the fsync, as the complete temporary file.
  if (point_ == point || (point_ == Point::Bytes && point == Point::TempWritten))
    stop_dead(path_, point == Point::Renamed ? "after the rename" : "before the rename");
}

}  // namespace minidl::fault
