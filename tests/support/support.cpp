#include "support.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "minidl/config.h"
#include "minidl/core/device.h"

namespace minidl::test {

namespace {

std::atomic<bool> g_skipped{false};

bool env_is_one(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::strcmp(v, "1") == 0;
}

std::string require_variable(Need need) {
  switch (need) {
    case Need::Gpu: return "MINIDL_REQUIRE_GPU";
    case Need::Mpi: return "MINIDL_REQUIRE_MPI";
    case Need::Torch: return "MINIDL_REQUIRE_TORCH";
    case Need::Assets: return "MINIDL_REQUIRE_ASSETS";
  }
  return "";
}

// One line per skip, appended with a single write(2) so that tests running in parallel (ctest
// -j) never interleave their lines.
void log_skip(const std::string& test, Need need, const std::string& reason) {
  const char* path = std::getenv("MINIDL_SKIP_LOG");
  if (path == nullptr || *path == '\0') return;
  auto one_field = [](std::string s) {
    for (char& c : s)
      if (c == '\n' || c == '\t') c = ' ';
    return s;
  };
  const std::string line = one_field(test) + "\t" + need_name(need) + "\t" + one_field(reason) + "\n";
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    FAIL("cannot append the skip to MINIDL_SKIP_LOG=" << path << ": " << std::strerror(errno));
  ::close(fd);
}

// True when `python` runs and imports torch and torchvision.
bool imports_torch(const std::string& python) {
  return run_command("'" + python + "' -c 'import torch, torchvision' >/dev/null 2>&1") == 0;
}

std::string find_torch_python() {
  if (const char* p = std::getenv("MINIDL_PYTHON"); p != nullptr && *p != '\0') {
    // Set on purpose: an interpreter without torch is a mistake to report, not a reason to skip.
    if (!imports_torch(p)) FAIL("MINIDL_PYTHON=" << p << " does not import torch and torchvision");
    return p;
  }
  std::vector<std::string> candidates;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');)
      if (!dir.empty()) candidates.push_back(dir + "/python3");
  }
  candidates.push_back("/usr/bin/python3");
  for (const auto& c : candidates)
    if (::access(c.c_str(), X_OK) == 0 && imports_torch(c)) return c;
  return "";
}

}  // namespace

const char* need_name(Need need) {
  switch (need) {
    case Need::Gpu: return "gpu";
    case Need::Mpi: return "mpi";
    case Need::Torch: return "torch";
    case Need::Assets: return "assets";
  }
  return "?";
}

bool skip(Need need, const std::string& reason) {
  const std::string test = Catch::getResultCapture().getCurrentTestName();
  const std::string var = require_variable(need);
  if (env_is_one(var.c_str())) FAIL(var << "=1, and this test would have been skipped: " << reason);
  std::cout << "MINIDL_SKIPPED (" << need_name(need) << "): " << reason << std::endl;
  WARN("skipped (" << need_name(need) << "): " << reason);
  log_skip(test, need, reason);
  g_skipped = true;
  return true;
}

bool any_test_skipped() { return g_skipped; }

bool no_gpu() {
#if MINIDL_WITH_CUDA
  if (cuda_available()) return false;
  return skip(Need::Gpu, "no CUDA device visible");
#else
  return skip(Need::Gpu, "built without CUDA (MINIDL_CUDA=OFF or no nvcc)");
#endif
}

const std::string& torch_python() {
  static std::once_flag once;
  static std::string python;
  std::call_once(once, [] { python = find_torch_python(); });
  return python;
}

bool no_torch() {
  if (!torch_python().empty()) return false;
  return skip(Need::Torch, "no python3 that imports torch and torchvision (set MINIDL_PYTHON, or scripts/install-deps.sh --test)");
}

int run_command(const std::string& command, std::string* output) {
  std::string cmd = command;
  if (output != nullptr) cmd = "( " + command + " ) 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    if (output != nullptr) output->append(buf, n);
  const int status = ::pclose(p);
  if (status < 0 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

namespace {
class FunctionInvoker : public Catch::ITestInvoker {
 public:
  explicit FunctionInvoker(std::function<void()> f) : f_(std::move(f)) {}
  void invoke() const override { f_(); }

 private:
  std::function<void()> f_;
};
}  // namespace

void register_test(const std::string& name, const std::string& tags, std::function<void()> body, const char* file,
                   int line) {
  // Catch copies the name and tags; the registry owns the invoker.
  Catch::AutoReg(new FunctionInvoker(std::move(body)), Catch::SourceLineInfo(file, static_cast<std::size_t>(line)),
                 Catch::StringRef(""), Catch::NameAndTags(Catch::StringRef(name), Catch::StringRef(tags)));
}

TempDir::TempDir(const std::string& tag) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("minidl_" + tag + "_XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) FAIL("mkdtemp(" << tmpl << "): " << std::strerror(errno));
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot open " << path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& bytes) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) FAIL("cannot write " << path);
}

double error_over_max(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double scale = 1e-30, worst = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (std::size_t i = 0; i < got.size(); ++i) {
    REQUIRE(std::isfinite(got[i]));
    worst = std::max(worst, std::fabs(got[i] - want[i]));
  }
  return worst / scale;
}

void require_close(const std::vector<double>& got, const std::vector<double>& want, double atol, double rtol,
                   const std::string& what) {
  REQUIRE(got.size() == want.size());
  double worst_ratio = 0.0, worst_err = 0.0;
  std::size_t worst_at = 0;
  bool finite = true;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i]) || !std::isfinite(want[i])) {
      finite = false;
      worst_at = i;
      break;
    }
    const double err = std::abs(got[i] - want[i]);
    const double ratio = err / (atol + rtol * std::abs(want[i]));
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst_err = err;
      worst_at = i;
    }
  }
  std::ostringstream msg;
  msg << what << ": " << got.size() << " values, worst error " << worst_err << " at " << worst_at;
  if (!got.empty()) msg << " (got " << got[worst_at] << ", want " << want[worst_at] << ")";
  msg << ", " << worst_ratio << " of its tolerance (atol " << atol << ", rtol " << rtol << ")";
  std::cout << msg.str() << std::endl;
  INFO(msg.str());
  if (!finite) INFO("non-finite value at " << worst_at);
  REQUIRE(finite);
  REQUIRE(worst_ratio <= 1.0);
}

std::uint32_t float_bits(float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}
float float_from_bits(std::uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// The two candidates are v with its low 16 bits cleared (towards zero) and the next bf16 away
// from zero, whose magnitude past the largest bf16 is 2^128 (where IEEE rounding overflows to
// infinity).
float nearest_bf16(float v) {
  if (std::isinf(v) || std::isnan(v)) return v;
  const std::uint32_t lo = float_bits(v) & 0xffff0000u, hi = lo + 0x10000u;
  const double mag_hi =
      std::isinf(float_from_bits(hi)) ? std::ldexp(1.0, 128) : std::fabs(double(float_from_bits(hi)));
  const double dl = std::fabs(double(v)) - std::fabs(double(float_from_bits(lo))), dh = mag_hi - std::fabs(double(v));
  if (dl < dh) return float_from_bits(lo);
  if (dh < dl) return float_from_bits(hi);
  return (lo >> 16) & 1u ? float_from_bits(hi) : float_from_bits(lo);
}

LinearReference linear_reference(std::int64_t n, std::int64_t in, std::int64_t out, const std::vector<double>& x,
                                 const std::vector<double>& w, const std::vector<double>& b,
                                 const std::vector<double>& dy_rounded, const std::vector<double>& dy, double scale) {
  LinearReference r{std::vector<double>(n * out), std::vector<double>(n * in, 0.0), std::vector<double>(out * in, 0.0),
                    std::vector<double>(out, 0.0)};
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t o = 0; o < out; ++o) {
      r.y[i * out + o] = b[o];
      r.db[o] += scale * dy[i * out + o];
      for (std::int64_t j = 0; j < in; ++j) {
        r.y[i * out + o] += x[i * in + j] * w[o * in + j];
        r.dx[i * in + j] += scale * dy_rounded[i * out + o] * w[o * in + j];
        r.dw[o * in + j] += scale * dy_rounded[i * out + o] * x[i * in + j];
      }
    }
  return r;
}

std::vector<float> bf16_test_inputs() {
  std::vector<float> in;
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) in.push_back(float_from_bits(rng()));
  for (std::uint32_t u : {0x3f808000u, 0x3f818000u, 0xbf808000u, 0xbf818000u, 0x7f7fffffu, 0x7f7f8000u, 0x7f7f7fffu,
                          0x00000001u, 0x00018000u, 0x80000000u, 0x00000000u, 0x7f800000u, 0xff800000u, 0x7f800001u,
                          0xff80ffffu, 0x7fc00000u})
    in.push_back(float_from_bits(u));
  return in;
}

}  // namespace minidl::test
