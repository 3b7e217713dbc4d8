#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: safetensors, fer2013_csv, idx, image) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs each for a bounded time from its
# committed seed corpus. Exits non-zero when a target crashes, leaks, hangs or runs out of memory,
# saying where the input that did it was saved.
#   scripts/fuzz.sh [build-dir] [seconds-per-target] [target...]
#   defaults: build-fuzz, 60, all four targets. Targets run $(nproc) at a time.
# A finding: copy the saved input to tests/fuzz/regressions/<target>/ (the normal test suite
# replays that folder), fix the reader, and rerun. Replay one input by hand with
#   build-fuzz/tests/fuzz/fuzz_<target> FILE
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-fuzz}"
seconds="${2:-60}"
shift $(($# < 2 ? $# : 2))
targets=("$@")
((${#targets[@]})) || targets=(safetensors fer2013_csv idx image)

scripts/install-deps.sh --fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMINIDL_FUZZ=ON -DMINIDL_CUDA=OFF \
  -DMINIDL_BUILD_TESTS=OFF -DMINIDL_BUILD_APPS=OFF -DMINIDL_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

# One target: a scratch copy of its seeds (the committed corpus stays as it is), a log, and the
# crashing input (if any) under $build/fuzz-work/<target>/.
run_target() {
  local build="$1" seconds="$2" t="$3"
  local work="$build/fuzz-work/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/found"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  local rc=0
  # -rss_limit_mb also caps single allocations (malloc_limit_mb defaults to it): a file that
  # makes a reader allocate gigabytes is a finding. -timeout: one input taking 10 s is a hang.
  "$build/tests/fuzz/fuzz_$t" "$work/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$work/found/" >"$work/log" 2>&1 || rc=$?
  local execs cov corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | tr -dc 0-9)
  corp=$(find "$work/corpus" -type f | wc -l)
  if ((rc == 0)); then
    printf 'fuzz %-12s ok    %10s executions in %ss, coverage %s edges, corpus %s inputs\n' "$t" "${execs:-?}" \
      "$seconds" "${cov:-?}" "$corp"
  else
    printf 'fuzz %-12s FAILED (exit %s) after %s executions; the input is in %s:\n' "$t" "$rc" "${execs:-?}" "$work/found"
    ls -l "$work/found" || true
    grep -A30 -m1 -E '^==[0-9]+==ERROR|runtime error|deadly signal|out-of-memory|timeout' "$work/log" | head -60 || tail -40 "$work/log"
    echo "(full log: $work/log)"
  fi
  return "$rc"
}
export -f run_target

echo "== fuzzing ${targets[*]} for ${seconds}s each, $(nproc) at a time ($(date -u +%F))"
printf '%s\n' "${targets[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_target "$@"' _ "$build" "$seconds" {}
