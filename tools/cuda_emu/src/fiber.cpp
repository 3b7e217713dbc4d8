#include "fiber.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__)

// System V x86-64: rbx, rbp and r12-r15 are callee-saved. (The x87 control word and MXCSR are
// too, but nothing in a kernel changes them and every fiber runs on the same thread: left alone,
// which makes a switch noticeably cheaper.)
extern "C" void emu_fiber_switch(void** save_sp, void* to_sp);
extern "C" void emu_fiber_entry();
asm(R"(
  .text
  .globl emu_fiber_switch
  .type emu_fiber_switch, @function
emu_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_fiber_switch, .-emu_fiber_switch

  .globl emu_fiber_entry
  .type emu_fiber_entry, @function
emu_fiber_entry:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size emu_fiber_entry, .-emu_fiber_entry
)");

namespace emu {

void* fiber_prepare(char* lo, char* hi, void (*fn)(void*), void* arg) {
  (void)lo;
  auto top = reinterpret_cast<std::uintptr_t>(hi) & ~std::uintptr_t(15);
  auto* sp = reinterpret_cast<std::uint64_t*>(top);
  *--sp = reinterpret_cast<std::uint64_t>(&emu_fiber_entry);  // ret target
  *--sp = 0;                                                   // rbp
  *--sp = 0;                                                   // rbx
  *--sp = reinterpret_cast<std::uint64_t>(arg);                // r12
  *--sp = reinterpret_cast<std::uint64_t>(fn);                 // r13
  *--sp = 0;                                                   // r14
  *--sp = 0;                                                   // r15
  return sp;
}

void fiber_switch(void** save_sp, void* to_sp) { emu_fiber_switch(save_sp, to_sp); }

}  // namespace emu

#else  // other architectures: ucontext (slower: it saves the signal mask on every switch)

#include <ucontext.h>

#include <map>

namespace emu {

namespace {
struct Ctx {
  ucontext_t uc;
};
void trampoline(unsigned hi_fn, unsigned lo_fn, unsigned hi_arg, unsigned lo_arg) {
  auto fn = reinterpret_cast<void (*)(void*)>((std::uintptr_t(hi_fn) << 32) | lo_fn);
  auto arg = reinterpret_cast<void*>((std::uintptr_t(hi_arg) << 32) | lo_arg);
  fn(arg);
}
}  // namespace

void* fiber_prepare(char* lo, char* hi, void (*fn)(void*), void* arg) {
  // The context lives at the top of the fiber's own stack.
  auto* c = reinterpret_cast<Ctx*>((reinterpret_cast<std::uintptr_t>(hi) - sizeof(Ctx)) & ~std::uintptr_t(63));
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = lo;
  c->uc.uc_stack.ss_size = std::size_t(reinterpret_cast<char*>(c) - lo);
  c->uc.uc_link = nullptr;
  const auto f = reinterpret_cast<std::uintptr_t>(fn), a = reinterpret_cast<std::uintptr_t>(arg);
  makecontext(&c->uc, reinterpret_cast<void (*)()>(trampoline), 4, unsigned(f >> 32), unsigned(f), unsigned(a >> 32),
              unsigned(a));
  return c;
}

void fiber_switch(void** save_sp, void* to_sp) {
  // *save_sp is a Ctx owned by the caller: the scheduler's lives in static storage.
  static thread_local Ctx scheduler_ctx;
  Ctx* from = static_cast<Ctx*>(*save_sp);
  if (!from) {
    from = &scheduler_ctx;
    *save_sp = from;
  }
  swapcontext(&from->uc, &static_cast<Ctx*>(to_sp)->uc);
}

}  // namespace emu

#endif
