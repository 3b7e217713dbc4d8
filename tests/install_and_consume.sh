#!/usr/bin/env bash
# Installs minidl from a build tree into a temporary prefix, then builds and runs the example
# experiment (examples/small_cnn), a user-defined op (examples/custom_op: its own CPU and CUDA
# kernels and a gradcheck) and issue 24's four experiments (examples/experiments) against it with
# find_package, and a one-file program with
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

# Installed programs must find the libraries they were linked with (the CUDA toolkit's, cuDNN,
# NCCL) by their own RUNPATH, as on a machine whose loader cache does not list the toolkit's
# folder (NVIDIA's runfile install, a bare root). The dynamic loader run with --inhibit-cache
# searches only RUNPATHs, LD_LIBRARY_PATH and the system folders.
ldso=/lib64/ld-linux-x86-64.so.2
uncached() {  # program args...: runs it as above, or plainly where that loader is not there
  if [[ -x $ldso ]]; then "$ldso" --inhibit-cache "$@"; else "$@"; fi
}
if [[ -x "$work/prefix/bin/train_resnet" ]]; then
  uncached "$work/prefix/bin/train_resnet" --help > "$work/app-help.log" ||
    { echo "FAIL: the installed train_resnet does not start without the loader cache" >&2; exit 1; }
fi
cmake -S "$src/examples/small_cnn" -B "$work/example" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/example" > "$work/build.log"
uncached "$work/example/small_cnn" --limit 1000 | tee "$work/run.log"
grep -q "test accuracy:" "$work/run.log"

# An op written outside the library (docs/extending.md): its CPU kernels and, in a CUDA build, its
# CUDA kernels compiled by the consumer, gradcheck'd and compared with minidl's own ops.
consume() {  # name: configure, build and print the logs when either fails
  cmake -S "$src/examples/$1" -B "$work/$1" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/$1-build.log" 2>&1 &&
    cmake --build "$work/$1" >> "$work/$1-build.log" 2>&1 || { cat "$work/$1-build.log" >&2; exit 1; }
}
consume custom_op
"$work/custom_op/custom_op" | tee "$work/custom_op.log"
grep -q "custom_op: all checks passed" "$work/custom_op.log"

# The four experiments of issue 24 (examples/experiments: an outside project, no op written by
# hand), each at a tiny size for a few seconds. Each checks itself (finite losses that go down,
# and its own checks) and ends with "NAME: ok"; a run that fails prints its log.
consume experiments
experiment() {  # name, arguments...
  local name=$1
  shift
  if ! "$work/experiments/$name" "$@" > "$work/$name.log" 2>&1 || ! grep -q "^$name: ok" "$work/$name.log"; then
    cat "$work/$name.log" >&2
    echo "FAIL: examples/experiments/$name $*" >&2
    exit 1
  fi
  tail -n 3 "$work/$name.log"
}
experiment focal_loss --samples 500 --epochs 30
experiment custom_dataset --images 300 --epochs 3 --workers 2
experiment finetune_resnet --images 64 --size 32 --epochs 2
fashion=/usr/share/datasets/fashion-mnist
if [[ -e $fashion/train-images-idx3-ubyte.gz ]]; then
  experiment mlp_fashion_mnist --data "$fashion" --limit 2000 --test-limit 1000 --epochs 2
else
  # Without the data set the experiment must say what is missing and how to get it (exit 2).
  rc=0
  "$work/experiments/mlp_fashion_mnist" --data "$fashion" > "$work/mlp.log" 2>&1 || rc=$?
  [[ $rc == 2 ]] && grep -q "dataset-fashion-mnist" "$work/mlp.log" || {
    cat "$work/mlp.log" >&2
    echo "FAIL: mlp_fashion_mnist without Fashion-MNIST exited $rc without saying what is missing" >&2
    exit 1
  }
  echo "mlp_fashion_mnist: Fashion-MNIST is not installed here; the experiment said so: $(cat "$work/mlp.log")"
fi

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
LD_LIBRARY_PATH="$work/prefix/lib" uncached "$work/hello"

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
