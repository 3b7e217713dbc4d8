#!/usr/bin/env bash
# The README's test command: installs what is missing, configures, builds and runs the whole
# suite (scripts/run-ctest.sh: skips counted and checked). CUDA code is compiled when nvcc is
# found (MINIDL_CUDA=AUTO); GPU tests skip without a GPU (MINIDL_REQUIRE_GPU=1: they fail instead).
#   scripts/test.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
scripts/install-deps.sh --test
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${MINIDL_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)"
# install-deps --test has just installed PyTorch: a test that cannot find it now is a failure.
export MINIDL_REQUIRE_TORCH="${MINIDL_REQUIRE_TORCH:-1}"
scripts/run-ctest.sh "$build"
