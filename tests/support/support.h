// What every test file may use: skips that are counted and explained, the PyTorch interpreter,
// scratch folders, random data and the comparisons the suite's tolerances are written in.
// (DESIGN.md, Tests: "a skip is a reason, not a pass".)
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace minidl::test {

// ----- skips -----------------------------------------------------------------------------
// Only a test that needs something this machine may lack can skip, and only for one of these.
// Assets (the test photos, OpenCV, ONNX: tests/support/test_assets.h) are counted like the others but
// never allowed: scripts/install-deps.sh --test installs them wherever the suite runs.
enum class Need { Gpu, Mpi, Torch, Assets };
const char* need_name(Need need);  // "gpu", "mpi", "torch", "assets"

// Marks the running test as skipped for `reason` and returns true (use: `if (skip(...)) return;`).
// The skip is printed, appended to the file named by MINIDL_SKIP_LOG (scripts/run-ctest.sh
// counts those lines and checks them against tests/skip-allowlist.txt), and makes the test
// executable exit with kSkipExitCode, which CTest reports as "Skipped" (SKIP_RETURN_CODE).
// With MINIDL_REQUIRE_GPU=1 (MINIDL_REQUIRE_MPI, MINIDL_REQUIRE_TORCH) the test fails instead:
// on a machine that has the thing, a test that cannot find it is broken, not skipped.
bool skip(Need need, const std::string& reason);
constexpr int kSkipExitCode = 77;

// True when the process skipped a test (main() turns that into kSkipExitCode).
bool any_test_skipped();

// True, after skip(Need::Gpu, ...), when no CUDA device is visible (or the build has no CUDA).
bool no_gpu();

// The Python interpreter that imports torch and torchvision: $MINIDL_PYTHON when set (and then
// it must import them), else the first `python3` on PATH that does, else /usr/bin/python3 if it
// does (Debian's python3-torch is only visible to the system interpreter). "" when none.
const std::string& torch_python();
// True, after skip(Need::Torch, ...), when there is no such interpreter.
bool no_torch();

// Runs a shell command line; returns its exit code (-1 when it could not run or was killed),
// with its stdout and stderr in `output`.
int run_command(const std::string& command, std::string* output = nullptr);

// ----- tests made from tables ------------------------------------------------------------
// Registers a Catch2 test case at static-initialisation time, as TEST_CASE does, for a test made
// from a table row (tests/core/op_table.h): each row becomes tests of its own, each its own CTest
// test. `file` must be a string literal (__FILE__).
void register_test(const std::string& name, const std::string& tags, std::function<void()> body, const char* file,
                   int line);

// ----- files -----------------------------------------------------------------------------
// A fresh folder under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);  // creates the folders

// ----- data and comparisons --------------------------------------------------------------
// n values uniform in [lo, hi).
template <typename T>
std::vector<T> random_vector(std::size_t n, std::mt19937& gen, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(dist(gen));
  return v;
}

// |got - want| <= atol + rtol * |want| element by element, every value finite; prints the worst
// element (as a fraction of its tolerance) whether or not the check passes, tagged with `what`.
void require_close(const std::vector<double>& got, const std::vector<double>& want, double atol, double rtol,
                   const std::string& what);
template <typename T, typename U>
void require_close(const std::vector<T>& got, const std::vector<U>& want, double atol, double rtol,
                   const std::string& what) {
  require_close(std::vector<double>(got.begin(), got.end()), std::vector<double>(want.begin(), want.end()), atol, rtol,
                what);
}

// max |got - want| / max |want| (the worst error as a fraction of the largest reference value:
// how low-precision results are judged, since their error scales with the sums, not with each
// element); every got must be finite.
double error_over_max(const std::vector<double>& got, const std::vector<double>& want);

// ----- bf16 -------------------------------------------------------------------------------
std::uint32_t float_bits(float v);
float float_from_bits(std::uint32_t u);
// The bf16 nearest to v (as a float32 with its low 16 bits zero), found independently of
// kernels/bf16.h: the nearer of the two neighbouring bf16 values, compared in double, ties to
// the even one; past bf16's largest value it is infinity, as IEEE rounding gives. NaN and
// infinity come back as they are (a rounding must keep a NaN a NaN, whatever its payload).
float nearest_bf16(float v);
// What a bf16 conversion is tested on: 20,000 random bit patterns (about 0.4% NaNs) and the edge
// cases: exact ties with an even and an odd last kept bit, both signs, the largest float (which
// rounds to infinity), denormals, zeros, infinities, and NaNs whose payload is only in the low
// 16 bits (truncating them would make an infinity).
std::vector<float> bf16_test_inputs();
// float64 linear, y = x w^T + b ([n, in] x [out, in]), and its gradients for the upstream
// gradient `scale` * dy: dx and dw from dy_rounded (the bf16 policy rounds the upstream gradient
// for the two products), db from dy itself (the bias gradient stays FP32). x and w are the
// operands as the test rounded them. scale: how many backward passes were summed.
struct LinearReference {
  std::vector<double> y, dx, dw, db;
};
LinearReference linear_reference(std::int64_t n, std::int64_t in, std::int64_t out, const std::vector<double>& x,
                                 const std::vector<double>& w, const std::vector<double>& b,
                                 const std::vector<double>& dy_rounded, const std::vector<double>& dy,
                                 double scale = 1.0);

}  // namespace minidl::test
