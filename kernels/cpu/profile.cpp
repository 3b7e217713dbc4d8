#include "minidl/kernels/cpu/profile.h"

#include <omp.h>

#include <time.h>

#include <atomic>
#include <chrono>
#include <mutex>

namespace minidl::kernels::cpu::profile {

namespace {
std::atomic<bool> g_enabled{false};
std::mutex g_mu;
std::vector<Total> g_totals;
thread_local int t_depth = 0;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double thread_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}
}  // namespace

void enable(bool on) { g_enabled.store(on, std::memory_order_relaxed); }
bool enabled() { return g_enabled.load(std::memory_order_relaxed); }

void reset() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_totals.clear();
}

std::vector<Total> totals() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_totals;
}

Scope::Scope(const char* name) : name_(name) {
  if (!g_enabled.load(std::memory_order_relaxed)) return;
  counted_ = true;
  if (t_depth++ == 0 && !omp_in_parallel()) {
    start_cpu_ = thread_cpu_s();
    start_ = now_s();
  }
}

Scope::~Scope() {
  if (counted_) --t_depth;
  if (start_ < 0.0) return;
  const double dt = now_s() - start_, dcpu = thread_cpu_s() - start_cpu_;
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto& t : g_totals)
    if (t.name == name_) {
      t.wall_s += dt, t.cpu_s += dcpu, ++t.calls;
      return;
    }
  g_totals.push_back({name_, dt, dcpu, 1});
}

}  // namespace minidl::kernels::cpu::profile
