// Replays the fuzz targets' inputs in the normal suite (any compiler, no libFuzzer needed):
//   tests/fuzz/corpus/<target>/       the seed corpora: valid files, which must load
//   tests/fuzz/regressions/<target>/  every input a fuzzer crashed, hung or blew up memory on,
//                                     each with its expected outcome in regressions/expected.txt:
//                                     it loads, or it is refused with a minidl::Error whose
//                                     message says what its fix checks
// The harness is the fuzzers' own (tests/fuzz/fuzz_inputs.h), so a regression file means here
// exactly what it meant to the fuzzer that found it.
//
// Each regression input runs in its own process (this executable again, in replay mode), under
// an address-space limit (RLIMIT_AS, or ASan's max_allocation_size_mb in a sanitizer build), a
// time limit, and ASan's garbage fill of fresh allocations: the size caps the inputs test (a TGA
// header announcing 40 megapixels, an IDX dimension product) and the zeroing allocator (a JPEG
// scan using an undefined Huffman table) are then exercised, not just survived by luck.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "fuzz_inputs.h"
#include "support.h"

namespace fs = std::filesystem;

namespace {

constexpr int kReplayTimeoutS = 5;           // each input takes milliseconds; a hang or a slow path fails
constexpr std::size_t kMemoryHeadroomMiB = 256;  // over what the process uses when it starts the input
// Fresh allocations filled with 0xFF (ASan only): a reader that uses memory it never wrote gets
// garbage, as it may from a real allocator, instead of the zeros a fresh page happens to hold.
constexpr const char* kAsanReplayOptions = "malloc_fill_byte=255:max_malloc_fill_size=1000000000:max_allocation_size_mb=256"
                                           ":allocator_may_return_null=0";

const fs::path kFuzzDir = MINIDL_FUZZ_DIR;

std::vector<fs::path> inputs_in(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "README.md") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::uint8_t> bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

const minidl::fuzz::Target* find_target(const std::string& name) {
  for (const auto& t : minidl::fuzz::targets())
    if (name == t.name) return &t;
  return nullptr;
}

// regressions/expected.txt: "<target>/<file> TAB <outcome>", outcome "loads" or a part of the
// error message.
std::map<std::string, std::string> expected_outcomes() {
  std::map<std::string, std::string> out;
  std::ifstream in(kFuzzDir / "regressions" / "expected.txt");
  REQUIRE(in);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab = line.find('\t');
    REQUIRE(tab != std::string::npos);
    out[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return out;
}

struct Replay {
  int code = 0;  // the child's exit code, or -signal
  std::string output;
  double seconds = 0;
};

// Runs one input in a child process (see the top of the file) and returns what it printed.
Replay replay_in_child(const std::string& target, const fs::path& file) {
  minidl::test::TempDir tmp("replay");
  const std::string log = tmp / "out";
  const auto start = std::chrono::steady_clock::now();
  std::fflush(nullptr);  // or the child's freopen writes out what this process buffered
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string opts = std::string(asan && *asan ? std::string(asan) + ":" : "") + kAsanReplayOptions;
    ::setenv("ASAN_OPTIONS", opts.c_str(), 1);
    std::FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (f == nullptr || ::dup2(::fileno(stdout), 2) < 0) ::_exit(126);
    ::execl("/proc/self/exe", "minidl_tests", "--replay-fuzz-input", target.c_str(), file.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  for (;;) {  // the child's own alarm() ends it; this bound is for a child that ignores it
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(4 * kReplayTimeoutS)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  Replay r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.output = minidl::test::read_file(log);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

void replay(const std::string& name) {
  const minidl::fuzz::Target* t = find_target(name);
  REQUIRE(t != nullptr);
  const auto seeds = inputs_in(kFuzzDir / "corpus" / name);
  CHECK(seeds.size() >= 3);
  for (const auto& p : seeds) {
    INFO("seed " << p.string());
    const auto b = bytes_of(p);
    CHECK_NOTHROW(t->run(b.data(), b.size()));  // seeds are valid files
  }
  const auto expected = expected_outcomes();
  const auto found = inputs_in(kFuzzDir / "regressions" / name);
  for (const auto& p : found) {
    const std::string key = name + "/" + p.filename().string();
    INFO("regression input " << p.string());
    const auto want = expected.find(key);
    if (want == expected.end()) FAIL("tests/fuzz/regressions/expected.txt has no line for " << key);
    const Replay r = replay_in_child(name, p);
    INFO("child exit " << r.code << " after " << r.seconds << " s, output:\n" << r.output);
    CHECK(r.code == 0);  // no crash, no sanitizer report, no other exception, within the limits
    const bool as_expected = want->second == "loads" ? r.output.find("replay: loads") != std::string::npos
                                                     : r.output.find("replay: minidl::Error: ") != std::string::npos &&
                                                           r.output.find(want->second) != std::string::npos;
    CHECK(as_expected);  // its fix, not luck, refused it (or it loads)
    std::printf("fuzz replay %-60s %-7s in %.2f s (expected: %s)\n", key.c_str(),
                r.code == 0 && as_expected ? "ok" : "FAILED", r.seconds, want->second.c_str());
  }
  std::printf("fuzz replay %s: %zu seeds loaded, %zu regression inputs replayed in their own processes\n", name.c_str(),
              seeds.size(), found.size());
}

}  // namespace

namespace minidl::test {

// The child's side: `minidl_tests --replay-fuzz-input TARGET FILE` (main.cpp calls this).
// Exit 0 with "replay: loads" or "replay: minidl::Error: MESSAGE"; 3 for another exception; a
// crash, a sanitizer report, the time or memory limit end it otherwise.
int replay_fuzz_input(const char* target, const char* file) {
#if !defined(__SANITIZE_ADDRESS__)  // ASan reserves terabytes of address space; it has its own limit
  long pages = 0;
  std::ifstream statm("/proc/self/statm");
  statm >> pages;
  const rlim_t limit = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) +
                       (static_cast<rlim_t>(kMemoryHeadroomMiB) << 20);
  const rlimit rl{limit, limit};
  if (pages <= 0 || ::setrlimit(RLIMIT_AS, &rl) != 0) {
    std::printf("replay: cannot set the address-space limit\n");
    return 4;
  }
#endif
  ::alarm(kReplayTimeoutS);
  const minidl::fuzz::Target* t = find_target(target);
  if (t == nullptr) {
    std::printf("replay: no fuzz target %s\n", target);
    return 4;
  }
  const auto b = bytes_of(file);
  try {
    t->run(b.data(), b.size());
    std::printf("replay: loads\n");
  } catch (const minidl::Error& e) {
    std::printf("replay: minidl::Error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::printf("replay: not a minidl::Error: %s\n", e.what());
    return 3;
  }
  return 0;
}

}  // namespace minidl::test

TEST_CASE("fuzz inputs replay: safetensors", "[fuzz][safetensors]") { replay("safetensors"); }
TEST_CASE("fuzz inputs replay: fer2013_csv", "[fuzz][data]") { replay("fer2013_csv"); }
TEST_CASE("fuzz inputs replay: idx", "[fuzz][data]") { replay("idx"); }
TEST_CASE("fuzz inputs replay: image", "[fuzz][data]") { replay("image"); }
