#!/usr/bin/env bash
# Installs minidl from a build tree into a temporary prefix, then builds and runs the example
# experiment (examples/small_cnn) against it with find_package, and a one-file program with
# plain `pkg-config --cflags --libs minidl` (as docs/api.md says): what a project that uses
# minidl does. For a CUDA-enabled static install, also checks that a consumer without the CUDA
# toolkit is told so at find_package time.
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
// Reaches the library's dependencies on purpose: linear() is OpenBLAS, read_idx() is zlib, so a
// link line that misses them fails here.
#include <minidl/minidl.h>
#include <cstdio>
int main() {
  minidl::Tensor x = minidl::Tensor::ones({2, 3});
  minidl::Tensor w = minidl::Tensor::full({4, 3}, 0.5);
  const double s = minidl::sum(minidl::linear(x, w)).item();  // 2 * 4 * (3 * 0.5)
  bool named = false;
  try {
    minidl::data::read_idx("/nonexistent/train-images-idx3-ubyte.gz");
  } catch (const minidl::DataError& e) {
    named = std::string(e.what()).find("/nonexistent") != std::string::npos;
  }
  std::printf("%s sum=%g, missing IDX file named: %d\n", minidl::version(), s, named);
  return s == 12 && named ? 0 : 1;
}
CPP
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
g++ -std=c++17 -Wall -Wextra -Werror "$work/hello.cpp" -o "$work/hello" $(pkg-config --cflags --libs minidl)
LD_LIBRARY_PATH="$work/prefix/lib" "$work/hello"

config="$work/prefix/lib/cmake/minidl/minidlConfig.cmake"
if grep -q '^set(MINIDL_WITH_CUDA ON)' "$config" && grep -q '^set(MINIDL_SHARED OFF)' "$config"; then
  mkdir -p "$work/nocuda"
  cat > "$work/nocuda/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(nocuda LANGUAGES CXX)
find_package(minidl 0.1 REQUIRED)
CMAKE
  if cmake -S "$work/nocuda" -B "$work/nocuda/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON > "$work/nocuda.log" 2>&1; then
    echo "FAIL: find_package(minidl) of a static CUDA build succeeded without the CUDA toolkit" >&2
    exit 1
  fi
  said=$(tr -s ' \n' '  ' < "$work/nocuda.log")  # CMake may wrap the message
  grep -q "needs the CUDA toolkit's runtime and cuBLAS" <<< "$said" || {
    cat "$work/nocuda.log" >&2
    echo "FAIL: find_package(minidl) without the CUDA toolkit did not say what is needed" >&2
    exit 1
  }
  echo "a consumer without the CUDA toolkit is told: $(grep -o 'this minidl.*shared one[^.]*' <<< "$said" | head -1)"
fi
