#!/usr/bin/env bash
# Runs a build's CTest suite by the suite's rules (DESIGN.md, Tests): no tests is an error, every
# skip is counted and printed with its reason, and a skip that tests/skip-allowlist.txt does not
# allow fails the run (only tests that need a GPU, MPI or PyTorch may skip, each for that reason).
#   scripts/run-ctest.sh BUILD_DIR [ctest arguments...]
# Tests record their skips in the file named by MINIDL_SKIP_LOG (tests/support/support.h); this
# script points it at BUILD_DIR/skipped-tests.tsv and cross-checks it with CTest's own count.
# MINIDL_REQUIRE_GPU=1 / MINIDL_REQUIRE_TORCH=1 / MINIDL_REQUIRE_MPI=1 turn those skips into failures.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:?usage: scripts/run-ctest.sh BUILD_DIR [ctest arguments...]}"
shift
log="$(cd "$build" && pwd)/skipped-tests.tsv"
out="$(cd "$build" && pwd)/ctest-output.txt"
allow=tests/skip-allowlist.txt
rm -f "$log"
export MINIDL_SKIP_LOG="$log"

set +e
ctest --test-dir "$build" --output-on-failure --no-tests=error -j "$(nproc)" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e

touch "$log"
logged=$(wc -l <"$log")
reported=$(grep -c '(Skipped)$' "$out" || true)
echo "== $logged tests skipped"
bad=0
while IFS=$'\t' read -r name need reason; do
  allowed=0
  while read -r a_need a_pattern; do
    [[ -z "$a_need" || "$a_need" == \#* ]] && continue
    if [[ "$a_need" == "$need" ]] && grep -qE -- "$a_pattern" <<<"$name"; then
      allowed=1
      break
    fi
  done <"$allow"
  if ((allowed)); then
    printf '   skipped (%s): %s: %s\n' "$need" "$name" "$reason"
  else
    printf '   NOT ALLOWED (%s): %s: %s\n' "$need" "$name" "$reason"
    bad=1
  fi
done <"$log"
if ((logged != reported)); then
  echo "run-ctest: CTest reports $reported skipped tests but $logged recorded a reason ($log): a test exited" \
    "with the skip code (77) without minidl::test::skip, or a skip was not logged"
  bad=1
fi
if ((bad)); then
  echo "run-ctest: a skip outside $allow (only tests that need a GPU, MPI or PyTorch may skip)"
  ((rc != 0)) || rc=1
fi
exit "$rc"
