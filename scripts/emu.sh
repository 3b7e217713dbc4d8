#!/usr/bin/env bash
# The CUDA backend on the CPU emulator (tools/cuda_emu, docs/cuda.md): builds the product with
# -DMINIDL_CUDA_EMU=ON (its CUDA sources translated for the emulator, cuBLAS and cuDNN emulated)
# and runs every GPU test of the suite ([cuda]: kernel parity, ops and autograd on CUDA tensors,
# the allocator, the training step against the CPU, train_resnet --device cuda) plus the
# emulator's own planted-bug tests. Threads run in a seeded random order (the seed is printed;
# MINIDL_EMU_SEED repeats it) on an H200's 132 SMs. A kernel that fails here fails CI.
#   scripts/emu.sh [build-dir] [extra ctest arguments...]      (default build-emu)
# Each kernel's launch count and largest grid go to <build-dir>/emu-kernels.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-emu}"
shift $(($# < 1 ? $# : 1))
scripts/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMINIDL_CUDA_EMU=ON -DMINIDL_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
export MINIDL_EMU_SM_COUNT="${MINIDL_EMU_SM_COUNT:-132}"
log="$PWD/$build/emu-kernels.tsv"
rm -f "$log"
export MINIDL_EMU_LOG="$log"
# Skips are counted and must be allowed (tests/skip-allowlist.txt); with cuDNN emulated nothing
# here needs to skip (0 on 2026-12-02).
scripts/run-ctest.sh "$build" --timeout 600 -E '^install_and_consume$' "$@"
# What ran: each product kernel's launches, blocks, largest grid and the tests that ran it.
[[ -s "$log" ]] && python3 tools/cuda_emu/kernel_table.py "$log"
exit 0
