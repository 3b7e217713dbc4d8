#include "minidl/core/precision.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "minidl/base/error.h"
#include "minidl/kernels/conv2d.h"

namespace minidl {

namespace {
thread_local Precision t_precision = Precision::Float32;
}  // namespace

const char* precision_name(Precision p) { return p == Precision::BFloat16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& name, const char* what) {
  if (name == "fp32") return Precision::Float32;
  if (name == "bf16") return Precision::BFloat16;
  throw Error(std::string(what) + ": expected fp32 or bf16, got '" + name + "'");
}

Precision autocast_precision() { return t_precision; }

AutocastGuard::AutocastGuard(Precision p) : prev_(t_precision) { t_precision = p; }
AutocastGuard::~AutocastGuard() { t_precision = prev_; }

bool cpu_has_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  // AVX-512 BF16 is CPUID leaf 7 sub-leaf 1, EAX bit 5; AMX-BF16 is leaf 7 sub-leaf 0, EDX bit 22.
  // Both also need the OS to save the wide registers (XCR0), which a hypervisor may not enable.
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool amx_bf16 = (d >> 22) & 1u;
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  const bool avx512_bf16 = __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && ((a1 >> 5) & 1u);
  if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u)) return false;  // no OSXSAVE
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const bool zmm_state = (lo & 0xE6u) == 0xE6u;      // opmask, upper ZMM halves, ZMM16-31, YMM, XMM
  const bool amx_state = ((lo >> 17) & 3u) == 3u;    // XTILECFG, XTILEDATA
  return (avx512_bf16 && zmm_state) || (amx_bf16 && amx_state);
#else
  return false;
#endif
}

std::string cpu_bf16_note() {
  if (!cpu_has_bf16())
    return "bf16 on the CPU: this CPU has no bf16 instructions (no AVX-512 BF16 or AMX in CPUID), so bf16 is "
           "emulated: operands rounded to bf16, FP32 arithmetic: bf16's numerics at FP32 speed, not faster";
  if (!kernels::cpu::conv_backend_available("onednn"))
    return "bf16 on the CPU: this CPU has bf16 instructions, but oneDNN cannot run here, so bf16 is emulated "
           "(operands rounded to bf16, FP32 arithmetic: FP32 speed)";
  return "bf16 on the CPU: convolutions in bf16 through oneDNN (bf16 instructions, FP32 accumulation); linear "
         "layers on bf16-rounded operands in FP32";
}

}  // namespace minidl
