#!/usr/bin/env bash
# Installs minidl from a build tree into a temporary prefix, then builds and runs the example
# experiment (examples/small_cnn) against it with find_package, and a one-file program with
# pkg-config: what a project that uses minidl does.
#   tests/install_and_consume.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"
src="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$src/examples/small_cnn" -B "$work/example" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/example" > "$work/build.log"
"$work/example/small_cnn" --limit 1000 | tee "$work/run.log"
grep -q "test accuracy:" "$work/run.log"

if ! command -v pkg-config >/dev/null 2>&1; then
  # A machine without pkg-config (the GPU image): the find_package half above ran and passed.
  # The skip is logged like the suite's own (tests/support/support.h); scripts/run-ctest.sh does
  # not allow it (pkg-config is one apt package away), the GPU check's plain ctest reports it.
  reason="pkg-config is not installed, so the pkg-config half of this test did not run"
  echo "MINIDL_SKIPPED: $reason"
  [[ -z "${MINIDL_SKIP_LOG:-}" ]] || printf 'install_and_consume\tpkg-config\t%s\n' "$reason" >>"$MINIDL_SKIP_LOG"
  exit 0
fi
cat > "$work/hello.cpp" <<'CPP'
#include <minidl/minidl.h>
#include <cstdio>
int main() {
  minidl::Tensor x = minidl::Tensor::ones({2, 3});
  std::printf("%s sum=%g\n", minidl::version(), minidl::sum(x).item());
  return minidl::sum(x).item() == 6 ? 0 : 1;
}
CPP
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
g++ -std=c++17 -Wall -Wextra -Werror "$work/hello.cpp" -o "$work/hello" $(pkg-config --cflags --libs --static minidl)
"$work/hello"
