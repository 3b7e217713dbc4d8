// Guarded device memory: out-of-bounds, use-after-free and host-memory accesses by kernels, and
// host code touching device memory.
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "planted.h"
#include "util.h"

namespace {
std::string fault_of(cudaError_t launch) {
  REQUIRE(launch == cudaSuccess);
  const cudaError_t r = cudaDeviceSynchronize();
  const std::string m = emu::last_error_message();
  INFO(m);
  CHECK(r == cudaErrorIllegalAddress);
  return m;
}

// Runs f in a child process; returns its stderr and whether it died of a signal.
std::string in_child(const std::function<void()>& f, bool* killed) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    f();
    _exit(0);
  }
  close(fds[1]);
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, std::size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  *killed = WIFSIGNALED(status);
  return err;
}
}  // namespace

TEST_CASE("memory: a write one past the end names the kernel, the thread and the element", "[emu][memory]") {
  EmuTest t(with([](emu::Settings& s) { s.check_memory = true; }));
  DeviceArray y(1000);
  const std::string m = fault_of(planted::write_one_past_end(y.get(), 1000, nullptr));
  CHECK(contains(m, "out-of-bounds write of 4 bytes"));
  CHECK(contains(m, "write_past_end_kernel"));
  CHECK(contains(m, "thread (232,0,0)"));  // 1000 = 3 * 256 + 232
  CHECK(contains(m, "element 1000"));
  CHECK(contains(m, "0 bytes past its end"));

  // Unchecked, the write lands in the allocation's padding and nothing notices.
  t.set(with([](emu::Settings& s) { s.check_memory = false; }));
  REQUIRE(planted::write_one_past_end(y.get(), 1000, nullptr) == cudaSuccess);
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
}

TEST_CASE("memory: a read before the start of an allocation", "[emu][memory]") {
  EmuTest t;
  DeviceArray x(iota_values(300)), y(300);
  const std::string m = fault_of(planted::read_before_start(x.get(), y.get(), 300, nullptr));
  CHECK(contains(m, "out-of-bounds read of 4 bytes"));
  CHECK(contains(m, "read_before_start_kernel"));
  CHECK(contains(m, "element -1"));
  CHECK(contains(m, "4 bytes before its start"));
}

TEST_CASE("memory: a kernel reading a freed allocation", "[emu][memory]") {
  EmuTest t;
  DeviceArray x(iota_values(256)), y(256);
  float* stale = x.get();
  x.release();
  const std::string m = fault_of(planted::copy_kernel(stale, y.get(), 256, nullptr));
  CHECK(contains(m, "copy_kernel_"));
  CHECK(contains(m, "cudaFree has already freed"));
}

TEST_CASE("memory: a kernel given a host pointer", "[emu][memory]") {
  EmuTest t;
  std::vector<float> host = iota_values(256);
  DeviceArray y(256);
  const std::string m = fault_of(planted::copy_kernel(host.data(), y.get(), 256, nullptr));
  CHECK(contains(m, "copy_kernel_"));
  CHECK(contains(m, "host memory"));
}

TEST_CASE("memory: shared memory past the end of a __shared__ array", "[emu][memory][shared]") {
  EmuTest t;
  DeviceArray out(64);
  const std::string m = fault_of(planted::shared_overflow(out.get(), nullptr));
  CHECK(contains(m, "shared_overflow_kernel"));
  CHECK(contains(m, "__shared__ 's' (128 bytes"));
  CHECK(contains(m, "bytes past its end"));
}

namespace {
void read_device_pointer_on_host(bool check) {
  emu::Settings s = emu::settings();
  s.check_host = check;
  emu::set_settings(s);
  float* p = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&p), 64) != cudaSuccess) _exit(3);
  volatile float v = p[3];  // the bug: a device pointer read on the host
  (void)v;
}
}  // namespace

TEST_CASE("memory: host code dereferencing a device pointer is stopped", "[emu][memory][host]") {
  bool killed = false;
  std::string err = in_child([] { read_device_pointer_on_host(true); }, &killed);
  INFO(err);
  CHECK(killed);
  CHECK(contains(err, "host code touched device memory"));
  CHECK(contains(err, "byte offset 12"));
  // Unchecked, device memory is plain host memory and the read goes through.
  err = in_child([] { read_device_pointer_on_host(false); }, &killed);
  CHECK_FALSE(killed);
}
