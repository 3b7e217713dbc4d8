// A coarse profiler for the CPU kernels: wall time per kernel family, summed over calls, so a
// benchmark can show where a training step goes (bench_train --profile). Off by default; when
// off a scope costs one relaxed atomic load. Only the outermost scope on a thread outside any
// OpenMP region is counted: a kernel that calls another (linear -> gemm) or runs inside another
// kernel's parallel region is not counted twice.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace minidl::kernels::cpu::profile {

void enable(bool on);
bool enabled();
void reset();
struct Total {
  std::string name;
  double wall_s = 0;  // wall-clock time inside the family's calls
  double cpu_s = 0;   // CPU time of the calling thread in them: with one thread, the time the
                      // kernel itself took even on a machine that other processes share
  long calls = 0;
};
// Every family seen since the last reset, in first-seen order.
std::vector<Total> totals();

class Scope {
 public:
  explicit Scope(const char* name);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  bool counted_ = false;  // entered while enabled: holds a level of this thread's depth
  double start_ = -1.0;   // < 0: not timing
  double start_cpu_ = 0.0;
};

}  // namespace minidl::kernels::cpu::profile

#define MINIDL_CPU_PROFILE_CAT2(a, b) a##b
#define MINIDL_CPU_PROFILE_CAT(a, b) MINIDL_CPU_PROFILE_CAT2(a, b)
#define MINIDL_CPU_PROFILE(name) \
  ::minidl::kernels::cpu::profile::Scope MINIDL_CPU_PROFILE_CAT(minidl_profile_scope_, __LINE__)(name)
