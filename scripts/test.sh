#!/usr/bin/env bash
# The README's test command: installs what is missing, configures, builds and runs the whole
# suite. CUDA code is compiled when nvcc is found (MINIDL_CUDA=AUTO); GPU tests skip without a GPU.
#   scripts/test.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
scripts/install-deps.sh --test
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${MINIDL_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
