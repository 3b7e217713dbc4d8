// Running the built apps as a user runs them, and reading the CSV files they write (the tests of
// tests/apps; support.h has the scratch folders and file readers they use too).
#pragma once

#include <string>
#include <vector>

namespace minidl::test {

// What an app printed, and how it ended: its exit code, or -N when signal N killed it.
struct AppRun {
  int code;
  std::string out, err;
};

// Runs the built app (build/apps/<app>) with `args`, a shell command line, after `prefix` (a
// command such as "ulimit -f 8", or "" for none), killed after `limit_s` seconds so that a
// regression that hangs fails its test instead of stalling the suite.
AppRun run_app(const std::string& app, const std::string& args, const std::string& prefix = "", int limit_s = 600);

// The rows of a CSV text as RFC 4180 reads it: quoted fields may hold commas, doubled quotes and
// line breaks; a last line break ends the last row.
std::vector<std::vector<std::string>> parse_csv(const std::string& text);

}  // namespace minidl::test
