#include "common/app_main.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace minidl::app {

void app_start() { std::signal(SIGXFSZ, SIG_IGN); }

int app_exit(int code) {
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "error: cannot write the output to stdout (%s)\n", errno ? std::strerror(errno) : "write error");
    return code ? code : 1;
  }
  return code;
}

}  // namespace minidl::app
