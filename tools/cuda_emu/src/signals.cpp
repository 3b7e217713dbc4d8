// SIGSEGV: what a fault in the emulator's world means. A protected pinned page is a host access
// to a buffer an in-flight copy still uses (recorded, then let through); the device arena is host
// code dereferencing a device pointer; a fiber's guard page is a kernel thread overflowing its
// stack. Anything else goes to the handler that was there before (Catch2's, or the default).
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "internal.h"

namespace emu {

namespace {

struct sigaction g_previous;
bool g_have_previous = false;
thread_local bool t_altstack = false;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "cuda_emu: fatal: %s\n", message.c_str());
  std::fflush(stderr);
  signal(SIGABRT, SIG_DFL);
  std::abort();
}

void on_segv(int sig, siginfo_t* info, void* uctx) {
  const auto a = reinterpret_cast<std::uintptr_t>(info->si_addr);
  if (pinned_fault(a)) return;
  std::string where;
  if (in_fiber_guard(a, &where))
    die("stack overflow in " + where + " (each emulated thread has 128 KiB of stack)");
  if (a >= arena_lo() && a < arena_hi()) {
    if (executing_kernel()) die("segmentation fault on device memory in " + current_thread_where());
    die("host code touched device memory: " + describe_device_address(a, 1) +
        ". On a GPU a device pointer cannot be dereferenced on the host; copy the data with "
        "cudaMemcpy (Tensor::to(Device::cpu())) first.");
  }
  if (executing_kernel()) die(str("segmentation fault at %p in %s", info->si_addr, current_thread_where().c_str()));
  // Not ours: hand it on.
  if (g_have_previous && (g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
    g_previous.sa_sigaction(sig, info, uctx);
    return;
  }
  if (g_have_previous && !(g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_handler != SIG_DFL &&
      g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  signal(SIGSEGV, SIG_DFL);  // returning re-runs the access, which now kills the process
}

}  // namespace

void install_signal_handler() {
  if (!t_altstack) {
    // Faults inside a fiber must not run the handler on the fiber's small stack.
    t_altstack = true;
    stack_t current;
    if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
      stack_t ss;
      ss.ss_size = 256 * 1024;
      ss.ss_sp = std::malloc(ss.ss_size);
      ss.ss_flags = 0;
      if (ss.ss_sp) sigaltstack(&ss, nullptr);
    }
  }
  struct sigaction cur;
  if (sigaction(SIGSEGV, nullptr, &cur) != 0) return;
  if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == &on_segv) return;
  // Someone (Catch2 at each test case) put their own handler in: keep it for what is not ours.
  g_previous = cur;
  g_have_previous = true;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = &on_segv;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, nullptr);
}

}  // namespace emu
