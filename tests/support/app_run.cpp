#include "app_run.h"

#include <sys/wait.h>

#include <cstdlib>

#include "support.h"

namespace minidl::test {

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field), field.clear(), was_quoted = false;
    } else if (c == '\n') {
      rows.back().push_back(field), field.clear(), was_quoted = false;
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (!field.empty() || was_quoted) rows.back().push_back(field);
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

AppRun run_app(const std::string& app, const std::string& args, const std::string& prefix, int limit_s) {
  const TempDir dir("app_run");
  const std::string out = dir / "out", err = dir / "err";
  const std::string line = prefix + (prefix.empty() ? "" : "; ") + "exec timeout -s KILL " + std::to_string(limit_s) +
                           " " + MINIDL_BINARY_DIR + "/apps/" + app + " " + args + " >" + out + " 2>" + err;
  std::string quoted;  // the line as one single-quoted bash argument
  for (char c : line) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  const int status = std::system(("bash -c '" + quoted + "'").c_str());
  int code = -1;
  if (WIFEXITED(status)) code = WEXITSTATUS(status) >= 128 ? -(WEXITSTATUS(status) - 128) : WEXITSTATUS(status);
  return {code, read_file(out), read_file(err)};
}

}  // namespace minidl::test
