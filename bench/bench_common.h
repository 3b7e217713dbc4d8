// What the benchmark programs share: the machine they ran on, a clock, medians, random inputs,
// and flag parsing small enough not to need a library. Header-only; each bench/*.cpp is one program.
#pragma once

#include <omp.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "minidl/config.h"
#include "minidl/kernels/conv2d.h"
#include "minidl/models/resnet.h"

namespace minidl::bench {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

inline bool cpu_has_flag(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) return (line + " ").find(" " + flag + " ") != std::string::npos;
  return false;
}

inline std::string today() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&t));
  return buf;
}

// Process peak resident set (getrusage reports KiB on Linux).
inline std::size_t max_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::size_t>(u.ru_maxrss) * 1024;
}

// "0.52 0.80 1.10" from /proc/loadavg: other processes' load, to recognise a disturbed run.
inline std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return in ? a + " " + b + " " + c : "unknown";
}

inline const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

// One line about where the numbers came from; every program prints it first.
inline void print_machine(const char* program) {
  utsname u{};
  uname(&u);
  std::printf("%s  (minidl %s, %s)\n", program, MINIDL_VERSION, today().c_str());
  std::printf("machine: %s, %d logical CPUs online, AVX-512 %s, kernel %s\n", cpu_model().c_str(),
              static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)), cpu_has_flag("avx512f") ? "yes" : "no", u.release);
  std::printf("threads: %d OpenMP (OMP_NUM_THREADS=%s), CUDA backend built: %s\n", omp_get_max_threads(),
              env_or("OMP_NUM_THREADS", "unset"), MINIDL_WITH_CUDA ? "yes" : "no");
}

// --name value flags. value() exits with a message when the value is missing.
struct Args {
  int argc;
  char** argv;
  int i = 1;
  std::string flag() const { return argv[i]; }
  std::string value() {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s: %s needs a value\n", argv[0], argv[i]);
      std::exit(2);
    }
    return argv[++i];
  }
  [[noreturn]] void unknown() const {
    std::fprintf(stderr, "%s: unknown flag %s (try --help)\n", argv[0], argv[i]);
    std::exit(2);
  }
};

// n values uniform in [-1, 1) (as tests/support/support.h makes them; bench does not depend on tests).
template <typename T>
std::vector<T> random_vector(std::int64_t n, std::mt19937& gen) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(u(gen));
  return v;
}

inline std::vector<long long> parse_list(const std::string& s) {
  std::vector<long long> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t comma = s.find(',', pos);
    const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty()) out.push_back(std::stoll(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// The geometry of every convolution of resnet18(1, 7) on batch x 1 x h x w, in forward order.
inline std::vector<kernels::Conv2dGeometry> resnet18_conv_geometries(std::int64_t batch, std::int64_t h,
                                                                     std::int64_t w) {
  std::vector<kernels::Conv2dGeometry> out;
  for (const ConvAtInput& c : resnet18(1, 7)->conv_inputs(h, w)) {
    const Conv2dSpec& s = c.spec;
    kernels::Conv2dGeometry g{batch, s.in_channels, c.h, c.w, s.out_channels, s.kernel_size, s.kernel_size,
                              s.stride, s.stride, s.padding, s.padding, 0, 0};
    g.groups = s.groups;
    g.dilation_h = g.dilation_w = s.dilation;
    g.finalize();
    out.push_back(g);
  }
  return out;
}

}  // namespace minidl::bench
