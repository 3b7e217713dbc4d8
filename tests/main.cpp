// The Catch2 runner of minidl_tests. CTest runs one test case per process; a test case that
// skipped (minidl::test::skip) makes the process exit with kSkipExitCode, which CTest reports
// as "Skipped" (tests/CMakeLists.txt sets SKIP_RETURN_CODE). A run of several test cases
// reports its skips in its output and exits 0 when nothing failed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

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

namespace minidl::test {
int replay_fuzz_input(const char* target, const char* file);  // test_fuzz_regressions.cpp
}

int main(int argc, char* argv[]) {
  // The fuzz regression replay runs each input in a child process of this executable.
  if (argc == 4 && std::string(argv[1]) == "--replay-fuzz-input") return minidl::test::replay_fuzz_input(argv[2], argv[3]);
  const int failed = Catch::Session().run(argc, argv);
  if (failed != 0) return failed == minidl::test::kSkipExitCode ? 1 : failed;  // never a failure read as a skip
  return g_test_cases == 1 && minidl::test::any_test_skipped() ? minidl::test::kSkipExitCode : 0;
}
