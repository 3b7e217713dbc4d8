// Minimal stackful fibers: one per emulated CUDA thread. A switch saves the callee-saved
// registers on the current stack and moves to another; no system call, unlike swapcontext
// (which saves the signal mask each time and made the old emulator several times slower).
#pragma once

#include <cstddef>

namespace emu {

// Prepares a fresh stack [lo, hi) so that the first switch to it calls fn(arg) (fn must never
// return). Returns the stack pointer to switch to.
void* fiber_prepare(char* lo, char* hi, void (*fn)(void*), void* arg);
// Saves the current context into *save_sp and continues the one at to_sp.
void fiber_switch(void** save_sp, void* to_sp);

}  // namespace emu
