// The Catch2 runner of minidl_tests. CTest runs one test case per process; a test case that
// skipped (minidl::test::skip) makes the process exit with kSkipExitCode, which CTest reports
// as "Skipped" (tests/CMakeLists.txt sets SKIP_RETURN_CODE). A run of several test cases
// reports its skips in its output and exits 0 when nothing failed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "support.h"

namespace {

int g_test_cases = 0;

struct CountTestCases : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    ++g_test_cases;
    TestEventListenerBase::testCaseStarting(info);
  }
};
CATCH_REGISTER_LISTENER(CountTestCases)

}  // namespace

#if MINIDL_TEST_FUZZ_REPLAY  // minidl_tests only: the distributed tests' runner has no fuzz targets
namespace minidl::test {
int replay_fuzz_input(const char* target, const char* file);  // test_fuzz_regressions.cpp
}
#endif

int main(int argc, char* argv[]) {
  // The fuzz regression replay runs each input in a child process of this executable.
#if MINIDL_TEST_FUZZ_REPLAY
  if (argc == 4 && std::string(argv[1]) == "--replay-fuzz-input") return minidl::test::replay_fuzz_input(argv[2], argv[3]);
#endif
  const int failed = Catch::Session().run(argc, argv);
  if (failed != 0) return failed == minidl::test::kSkipExitCode ? 1 : failed;  // never a failure read as a skip
  // A filter that matches nothing (a renamed test, a name CTest split at a ';') ran nothing:
  // that is not a pass. (--list-* and --help runs start no test case either; they exit 0.)
  bool runs_tests = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--list", 0) == 0 || a == "-l" || a == "-t" || a == "-h" || a == "-?" || a == "--help") runs_tests = false;
  }
  if (g_test_cases == 0 && runs_tests) {
    std::fprintf(stderr, "minidl_tests: no test case ran (does the name or tag match a test?)\n");
    return 2;
  }
  return g_test_cases == 1 && minidl::test::any_test_skipped() ? minidl::test::kSkipExitCode : 0;
}
