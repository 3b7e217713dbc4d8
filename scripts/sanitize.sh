#!/usr/bin/env bash
# The test suite built with AddressSanitizer and UndefinedBehaviorSanitizer (gcc), CPU only: the
# CUDA backend is left out (-DMINIDL_CUDA=OFF), since the sanitizers cannot see into GPU code
# and CI has no GPU to run it on. Any sanitizer report fails the test that triggered it.
#   scripts/sanitize.sh [build-dir] [extra ctest arguments...]      (default build-asan)
# Leaves out install_and_consume: it builds a consumer of the installed library, which would
# need the sanitizer flags too, and the main build runs it. Built without MPI (MINIDL_MPI=OFF):
# Open MPI's own allocations at exit would fail LeakSanitizer, and its uninstrumented library
# is not what we test; the main build runs the mpirun tests, and here they report as skipped,
# which also checks that a build without MPI is unchanged and says why.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-asan}"
shift $(($# < 1 ? $# : 1))
scripts/install-deps.sh
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMINIDL_SANITIZE=ON -DMINIDL_CUDA=OFF -DMINIDL_MPI=OFF \
  -DMINIDL_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
# halt_on_error: the first report fails the test; detect_leaks: LeakSanitizer at exit. The apps
# the tests start inherit these settings.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_init_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The crash-safety tests' training runs are several times slower here: half the random kills
# (the fault-injected ones all run).
export MINIDL_CRASH_KILLS="${MINIDL_CRASH_KILLS:-2}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0}"
# oneDNN, when installed, is dlopen'ed by the CPU convolution. gcc 12's LeakSanitizer crashes
# ("Tracer caught signal 11") scanning the thread-local storage of a dlopen'ed library on
# Debian 12's glibc; preloaded, its TLS is in the static block and the leak check works.
if dnnl=$(ldconfig -p | grep -o '/[^ ]*/libdnnl\.so\.2$' | head -1) && [[ -n "$dnnl" ]]; then
  echo "sanitize: preloading $dnnl (see the comment in scripts/sanitize.sh)"
  export LD_PRELOAD="$dnnl${LD_PRELOAD:+:$LD_PRELOAD}"
  ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0"
fi
# The ablation guard (two 30-epoch trainings, about 2.5 minutes in the main suite) is left out
# too: it would take several times that here, and the app tests run the same code under the
# sanitizers.
scripts/run-ctest.sh "$build" -E '^(install_and_consume|ablation at reduced size: .*)$' "$@"
