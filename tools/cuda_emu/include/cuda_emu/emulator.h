// The emulator's own controls, for its tests and for tools: how it runs kernels, which checks
// are on, what it has seen. Product code never includes this; it sees only cuda_runtime.h.
//
// Settings start from the environment (read on first use):
//   MINIDL_EMU_ORDER      random (default) | forward | reverse: the order in which the threads
//                         of a block (and the blocks of a grid) run between two barriers
//   MINIDL_EMU_SEED       seed of the random order (default: from the clock, printed once)
//   MINIDL_EMU_SM_COUNT   the device's multiprocessor count (default 132, an H200)
//   MINIDL_EMU_MEMORY     the device's memory, e.g. 16G (default 32G; reserved, not committed)
//   CUDA_LAUNCH_BLOCKING  1: run each launch and copy when it is issued, not at the next sync
//   CUDA_VISIBLE_DEVICES  empty: no device, as with the real runtime
//   MINIDL_EMU_LOG        a file to which each kernel's launch count and shapes are appended at exit
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace emu {

enum class Order { Forward, Reverse, Random };

struct Settings {
  Order order = Order::Random;
  std::uint64_t seed = 0;
  int sm_count = 132;
  // Each check can be switched off, so that a test can show the planted bug it exists for
  // going unnoticed without it.
  bool poison_shared = true;  // fresh shared memory of each block is 0xFF bytes
  bool warp_masks = true;     // collectives honour the mask; absent lanes read as poison
  bool check_memory = true;   // redzones, freed blocks, host memory read by kernels
  bool check_host = true;     // device memory and in-flight pinned buffers trap host access
  bool async = true;          // streams queue work until a synchronisation
  bool check_races = true;    // unordered work on two streams touching one allocation is an error
};

Settings settings();
void set_settings(const Settings& s);

// The emulator's sticky error (a failed kernel, a detected race), as cudaGetLastError would
// keep returning it: cleared here so that a test can go on after provoking one on purpose.
void clear_error();
// The text of the last error the emulator reported (empty if none).
std::string last_error_message();

struct KernelStats {
  std::string name;
  std::uint64_t launches = 0, blocks = 0, threads = 0;
  unsigned max_grid[3] = {0, 0, 0};
  unsigned max_block = 0;
  double seconds = 0;
};
// Every kernel run so far in this process, by name.
std::vector<KernelStats> kernel_stats();

}  // namespace emu
