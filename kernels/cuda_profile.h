// A coarse profiler for the GPU ops: the device time of each op family (every dispatch of an op
// on a GPU tensor, core/extension.h), summed over calls, so that a benchmark can show where a GPU
// training step goes (bench_train --device cuda --profile). The GPU twin of kernels/cpu/profile.h.
//
// Each counted call records a CUDA event before and after its work on its stream; totals() waits
// for the last of them and sums the elapsed times. That is the GPU's time between the op's first
// and last piece of work, so it includes any wait for the host to queue more of the op (a
// launch-bound op shows its launch time). Off by default; when off a scope costs one relaxed
// atomic load. Only the outermost scope of a thread is counted, and nothing while the stream is
// being captured into a CUDA graph (a replay has no ops to count). No CUDA header here, so core
// includes it; and here rather than in kernels/cuda/ (which is not installed) because the
// installed core/extension.h does. Defined in kernels/cuda/profile.cpp.
#pragma once

#include <string>
#include <vector>

#include "minidl/kernels/common.h"

namespace minidl::kernels::cuda::profile {

void enable(bool on);
bool enabled();
// Forgets what was counted (its events are kept for reuse).
void reset();
struct Total {
  std::string name;
  double gpu_s = 0;  // device time between the start and the end of the family's calls, summed
  long calls = 0;
};
// Every family counted since the last reset, in first-seen order. Waits for the counted work.
std::vector<Total> totals();

class Scope {
 public:
  Scope(const char* name, Stream stream);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Stream stream_;
  bool counted_ = false;  // entered while enabled: holds a level of this thread's depth
  int slot_ = -1;         // the record's index while timing, else -1
  long generation_ = 0;   // of the records it was put in (reset() starts a new one)
};

}  // namespace minidl::kernels::cuda::profile
