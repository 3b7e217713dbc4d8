#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: safetensors, fer2013_csv, idx, image) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs each for a bounded time from its
# committed seed corpus. Exits non-zero when a target crashes, leaks, hangs or runs out of memory,
# saying where the input that did it was saved.
#   scripts/fuzz.sh [build-dir] [seconds-per-target] [target...]
#       defaults: build-fuzz, 60, all four targets; $(nproc) targets at a time. libFuzzer's
#       random seed is fixed (MINIDL_FUZZ_SEED, default 1): every run mutates the same way, so
#       CI repeats itself (how far a run gets in its time still depends on the machine).
#   scripts/fuzz.sh --long [seconds-per-target] [target...]
#       a campaign (default 7200 s per target) in build-fuzz, from a corpus kept between
#       campaigns (build-fuzz/fuzz-long/<target>/corpus, grown from the seeds), with a random
#       seed; adds one row per target (date, machine, time, executions, coverage, corpus) to the
#       "Long campaigns" table of docs/reliability.md.
# A finding: copy the saved input to tests/fuzz/regressions/<target>/, add its expected outcome to
# tests/fuzz/regressions/expected.txt (the normal test suite replays that folder), fix the reader,
# and rerun. Replay one input by hand with
#   build-fuzz/tests/fuzz/fuzz_<target> FILE
set -euo pipefail
cd "$(dirname "$0")/.."
long=0
if [[ "${1:-}" == "--long" ]]; then
  long=1
  shift
  build=build-fuzz
  seconds="${1:-7200}"
  shift $(($# < 1 ? $# : 1))
else
  build="${1:-build-fuzz}"
  seconds="${2:-60}"
  shift $(($# < 2 ? $# : 2))
fi
targets=("$@")
((${#targets[@]})) || targets=(safetensors fer2013_csv idx image)
seed="${MINIDL_FUZZ_SEED:-1}"
((long)) && seed=0  # 0: libFuzzer picks one (and prints it)

scripts/install-deps.sh --fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMINIDL_FUZZ=ON -DMINIDL_CUDA=OFF \
  -DMINIDL_BUILD_TESTS=OFF -DMINIDL_BUILD_APPS=OFF -DMINIDL_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

# One target: a scratch copy of its seeds (the committed corpus stays as it is), a log, and the
# crashing input (if any) under $build/fuzz-work/<target>/ (--long: $build/fuzz-long/<target>/,
# whose corpus is kept). Prints one result line, and for --long a table row to $work/row.
run_target() {
  local build="$1" seconds="$2" t="$3" seed="$4" long="$5"
  local work="$build/fuzz-work/$t"
  if ((long)); then
    work="$build/fuzz-long/$t"
    mkdir -p "$work/corpus"
    rm -rf "$work/found"
  else
    rm -rf "$work"
    mkdir -p "$work/corpus"
  fi
  mkdir -p "$work/found"
  cp -n tests/fuzz/corpus/"$t"/* "$work/corpus/"
  local corp0 rc=0
  corp0=$(find "$work/corpus" -type f | wc -l)
  # -rss_limit_mb also caps single allocations (malloc_limit_mb defaults to it): a file that
  # makes a reader allocate gigabytes is a finding. -timeout: one input taking 10 s is a hang.
  # ASan fills fresh allocations with 0xFF (as the suite's replay does): a reader that uses
  # memory it never wrote sees garbage, not the zeros a fresh page happens to hold.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}malloc_fill_byte=255:max_malloc_fill_size=1000000000" \
    "$build/tests/fuzz/fuzz_$t" "$work/corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -seed="$seed" -print_final_stats=1 -artifact_prefix="$work/found/" >"$work/log" 2>&1 || rc=$?
  local execs cov corp used_seed
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | tr -dc 0-9)
  corp=$(find "$work/corpus" -type f | wc -l)
  used_seed=$(sed -n 's/.*Seed: \([0-9]*\).*/\1/p' "$work/log" | head -1)
  if ((rc == 0)); then
    printf 'fuzz %-12s ok    %10s executions in %ss (seed %s), coverage %s edges, corpus %s inputs\n' "$t" \
      "${execs:-?}" "$seconds" "${used_seed:-?}" "${cov:-?}" "$corp"
    if ((long)); then
      printf '| %s | %s | %s | %s | %s | %s | %s -> %s |\n' "$(date -u +%F)" "$t" "$seconds" "${execs:-?}" \
        "${cov:-?}" "${used_seed:-?}" "$corp0" "$corp" >"$work/row"
    fi
  else
    printf 'fuzz %-12s FAILED (exit %s) after %s executions; the input is in %s:\n' "$t" "$rc" "${execs:-?}" "$work/found"
    ls -l "$work/found" || true
    grep -A30 -m1 -E '^==[0-9]+==ERROR|runtime error|deadly signal|out-of-memory|timeout' "$work/log" | head -60 || tail -40 "$work/log"
    echo "(full log: $work/log)"
  fi
  return "$rc"
}
export -f run_target

echo "== fuzzing ${targets[*]} for ${seconds}s each, $(nproc) at a time ($(date -u +%F), seed $seed)"
rc=0
printf '%s\n' "${targets[@]}" | xargs -P "$(nproc)" -I{} bash -c 'run_target "$@"' _ "$build" "$seconds" {} "$seed" "$long" || rc=$?
if ((long)); then
  # The rows go under the marker line of docs/reliability.md's "Long campaigns" table.
  machine="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores"
  rows=""
  for t in "${targets[@]}"; do
    [[ -f "$build/fuzz-long/$t/row" ]] && rows+="$(sed "s/ |\$/ | $machine, load $(cut -d' ' -f1-3 /proc/loadavg) at the end |/" "$build/fuzz-long/$t/row")"$'\n'
  done
  if [[ -n "$rows" ]]; then
    marker='<!-- scripts/fuzz.sh --long adds its rows below this line -->'
    python3 - "$marker" "$rows" <<'PY'
import sys
marker, rows = sys.argv[1], sys.argv[2]
path = "docs/reliability.md"
text = open(path).read()
if marker not in text:
    sys.exit("fuzz.sh --long: no marker line in docs/reliability.md; rows not recorded:\n" + rows)
open(path, "w").write(text.replace(marker + "\n", marker + "\n" + rows, 1))
PY
    echo "== recorded in docs/reliability.md (Long campaigns):"
    printf '%s' "$rows"
  fi
fi
exit "$rc"
