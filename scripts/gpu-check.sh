#!/usr/bin/env bash
# One prepared command for a machine with an NVIDIA GPU (an H200 first): configure minidl for
# sm_90, build it, run the whole test suite (the CUDA parity tests run instead of skipping),
# run it again with no GPU visible (the CPU path must not need the driver), then bench_conv and
# a short `train_resnet --device cuda` on the synthetic faces and, if its files are there, on
# Fashion-MNIST. Logs and a Markdown summary go to OUTDIR; the whole thing keeps to a time
# budget (default 470 s, under 8 minutes), skipping what no longer fits.
#
#   scripts/gpu-check.sh OUTDIR
#
# At most 8 files land in OUTDIR (summary.md and seven logs), so it can be a device tool's $OUT.
# cuDNN is looked for in MINIDL_CUDNN_ROOT / CUDNN_ROOT, the CUDA toolkit, the system, and the
# nvidia/cudnn folder of python3's site-packages (the nvidia-cudnn-cu13 wheel); without it the
# build uses our own kernels only, and the summary says so.
#
# Environment knobs:
#   GPU_CHECK_BUDGET   seconds for everything (default 470)
#   GPU_CHECK_BUILD    build folder (default build-gpu, ignored by git)
#   GPU_CHECK_JOBS     parallel compile jobs (default: all cores)
#   MINIDL_DEPS_ROOT   a folder with unpacked .deb packages (usr/include, usr/lib/...) for
#                      machines without the build dependencies (default: .deps if it exists)
#   FASHION_MNIST_DIR  where the Fashion-MNIST IDX files are
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-470}
BUILD=${GPU_CHECK_BUILD:-$ROOT/build-gpu}
JOBS=${GPU_CHECK_JOBS:-$(nproc)}
SUMMARY=$OUT/summary.md
BUILD_LOG=$OUT/build.log
CTEST_LOG=$OUT/ctest.log
PARITY_LOG=$OUT/cuda-parity.log
CPU_ONLY_LOG=$OUT/cpu-only.log
BENCH_LOG=$OUT/bench_conv.log
TRAIN_LOG=$OUT/train.log
for f in "$SUMMARY" "$BUILD_LOG" "$CTEST_LOG" "$PARITY_LOG" "$CPU_ONLY_LOG" "$BENCH_LOG" "$TRAIN_LOG"; do : >"$f"; done
FAILED=0

elapsed() { echo $(($(date +%s) - START)); }
left() { echo $((BUDGET - $(elapsed))); }
say() { echo "$*" | tee -a "$SUMMARY"; }
stage() {  # stage NAME STATUS SECONDS [NOTE]
  say "| $1 | $2 | $3 s | ${4:-} |"
  [[ "$2" == failed* ]] && FAILED=1
  return 0
}
# run_limited SECONDS LOG CMD...: runs CMD with a time limit, appending to LOG; returns its status
run_limited() {
  local limit=$1 logf=$2
  shift 2
  if ((limit < 5)); then
    echo "(not run: out of time)" >>"$logf"
    return 124
  fi
  echo "\$ $*" >>"$logf"
  timeout --kill-after=10 "$limit" "$@" >>"$logf" 2>&1
}

say "# minidl GPU check"
say ""
say "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
say "- host: $(hostname) ($(nproc) cores), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' + local changes')"
if command -v nvidia-smi >/dev/null 2>&1; then
  say "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | head -4 | paste -sd';')"
else
  say "- GPU: nvidia-smi not found"
fi

# ---- toolchain -------------------------------------------------------------------------------
NVCC=""
for c in "${CUDACXX:-}" "$(command -v nvcc 2>/dev/null)" /usr/local/cuda/bin/nvcc; do
  if [[ -n "$c" && -x "$c" ]]; then NVCC=$c; break; fi
done
if [[ -z "$NVCC" ]]; then
  say "- nvcc: NOT FOUND; nothing to check"
  exit 1
fi
CUDA_HOME=${CUDA_HOME:-$(cd "$(dirname "$NVCC")/.." && pwd)}
say "- nvcc: $NVCC ($("$NVCC" --version | grep -o 'release [0-9.]*' | head -1))"
say "- cmake: $(cmake --version | head -1)"
GENERATOR="Ninja"
command -v ninja >/dev/null 2>&1 || GENERATOR="Unix Makefiles"
say "- generator: $GENERATOR"

# ---- build dependencies from unpacked packages, when the machine lacks them -------------------
DEPS=${MINIDL_DEPS_ROOT:-}
[[ -z "$DEPS" && -d "$ROOT/.deps" ]] && DEPS=$ROOT/.deps
DEP_ARGS=()
if [[ -n "$DEPS" && -d "$DEPS" ]]; then
  DEPS=$(cd "$DEPS" && pwd)
  arch=$(uname -m)-linux-gnu
  export CMAKE_PREFIX_PATH="$DEPS/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export CPATH="$DEPS/usr/include${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$DEPS/usr/lib/$arch:$DEPS/usr/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$DEPS/usr/lib/$arch/openblas-openmp:$DEPS/usr/lib/$arch:$DEPS/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  cblas=$(find "$DEPS/usr/include" -name cblas.h -path '*openblas*' 2>/dev/null | head -1)
  oblas=$(find "$DEPS/usr/lib" -name 'libopenblas*.so*' 2>/dev/null | sort | head -1)
  stb=$(find "$DEPS/usr/include" -name stb_image.h 2>/dev/null | head -1)
  [[ -n "$cblas" ]] && DEP_ARGS+=("-DMINIDL_CBLAS_INCLUDE=$(dirname "$cblas")")
  [[ -n "$oblas" ]] && DEP_ARGS+=("-DMINIDL_OPENBLAS_LIB=$oblas")
  [[ -n "$stb" ]] && DEP_ARGS+=("-DMINIDL_STB_INCLUDE=$(dirname "$stb")")
  say "- build dependencies: also from $DEPS"
fi

# ---- cuDNN ------------------------------------------------------------------------------------
# A root holds include/cudnn.h (or include/cudnn_version.h) and lib/ or lib64/ with libcudnn.so*.
cudnn_root_ok() {
  local r=$1 f
  [[ -n "$r" && -d "$r" && -f "$r/include/cudnn.h" ]] || return 1
  for f in "$r"/lib/libcudnn.so* "$r"/lib64/libcudnn.so* "$r"/lib/"$(uname -m)"-linux-gnu/libcudnn.so*; do
    [[ -e "$f" ]] && return 0
  done
  return 1
}
CUDNN_ROOT_FOUND=""
CUDNN_WHERE=""
for r in "${MINIDL_CUDNN_ROOT:-}" "${CUDNN_ROOT:-}" "$CUDA_HOME" /usr/local/cuda /usr; do
  if cudnn_root_ok "$r"; then CUDNN_ROOT_FOUND=$r; CUDNN_WHERE="$r"; break; fi
done
if [[ -z "$CUDNN_ROOT_FOUND" ]] && [[ -f /usr/include/x86_64-linux-gnu/cudnn_v9.h || -f /usr/include/cudnn.h ]] &&
  ldconfig -p 2>/dev/null | grep -q 'libcudnn\.so'; then
  CUDNN_ROOT_FOUND=/usr
  CUDNN_WHERE="system package (/usr)"
fi
if [[ -z "$CUDNN_ROOT_FOUND" ]]; then
  for py in python3 python; do
    command -v "$py" >/dev/null 2>&1 || continue
    # nvidia.cudnn is a namespace package in some wheels (no __file__): use its __path__.
    r=$("$py" -c 'import nvidia.cudnn as m, os; print(os.path.dirname(m.__file__) if getattr(m, "__file__", None) else list(m.__path__)[0])' 2>/dev/null)
    if cudnn_root_ok "$r"; then CUDNN_ROOT_FOUND=$r; CUDNN_WHERE="python wheel ($r)"; break; fi
  done
fi
CUDNN_ARGS=(-DMINIDL_CUDNN=OFF)
if [[ -n "$CUDNN_ROOT_FOUND" ]]; then
  hdr=$CUDNN_ROOT_FOUND/include/cudnn_version.h
  [[ -f "$hdr" ]] || hdr=/usr/include/x86_64-linux-gnu/cudnn_version_v9.h
  ver=$(awk '/#define CUDNN_MAJOR/{a=$3} /#define CUDNN_MINOR/{b=$3} /#define CUDNN_PATCHLEVEL/{c=$3} END{print a"."b"."c}' "$hdr" 2>/dev/null)
  say "- cuDNN: $ver from $CUDNN_WHERE"
  CUDNN_ARGS=(-DMINIDL_CUDNN=ON "-DMINIDL_CUDNN_ROOT=$CUDNN_ROOT_FOUND")
  for d in "$CUDNN_ROOT_FOUND/lib" "$CUDNN_ROOT_FOUND/lib64"; do
    [[ -d "$d" ]] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
else
  say "- cuDNN: NOT FOUND — building with minidl's own convolution and batch-norm kernels only"
fi
say ""
say "| stage | result | time | note |"
say "| --- | --- | --- | --- |"

# ---- configure and build -----------------------------------------------------------------------
t0=$(date +%s)
rm -f "$BUILD/CMakeCache.txt"
run_limited 90 "$BUILD_LOG" cmake -S "$ROOT" -B "$BUILD" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release \
  -DMINIDL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER="$NVCC" "${CUDNN_ARGS[@]}" "${DEP_ARGS[@]}"
rc=$?
if ((rc != 0)); then
  stage configure "failed ($rc)" $(($(date +%s) - t0)) "see build.log: $(grep -m1 -E 'Error|error:|not found|NOTFOUND' "$BUILD_LOG" | cut -c1-160)"
  say ""
  say "Configure failed; nothing else ran."
  exit 1
fi
stage configure ok $(($(date +%s) - t0)) "$(grep -E 'CUDA archs|cuDNN  ' "$BUILD_LOG" | sed 's/-- *//' | paste -sd';')"

t0=$(date +%s)
run_limited $(($(left) - 150)) "$BUILD_LOG" cmake --build "$BUILD" -j "$JOBS"
rc=$?
warnings=$(grep -c 'warning' "$BUILD_LOG")
if ((rc != 0)); then
  stage build "failed ($rc)" $(($(date +%s) - t0)) "first error: $(grep -m1 -E 'error:|Error ' "$BUILD_LOG" | cut -c1-200)"
else
  stage build ok $(($(date +%s) - t0)) "$warnings lines mention 'warning'"
fi

# ---- tests ------------------------------------------------------------------------------------
TESTS=$BUILD/tests/minidl_tests
if [[ -x "$TESTS" ]]; then
  # The CUDA parity tests on their own first, printing every kernel's worst error.
  t0=$(date +%s)
  run_limited $(($(left) - 130)) "$PARITY_LOG" "$TESTS" "[cuda]" --durations yes
  rc=$?
  verdict=$(grep -E '^(All tests passed|test cases:)' "$PARITY_LOG" | tail -1)
  skipped=$(grep -c MINIDL_SKIPPED "$PARITY_LOG")
  ((rc == 0)) && stage "CUDA parity tests" ok $(($(date +%s) - t0)) "$verdict; $skipped skipped" ||
    stage "CUDA parity tests" "failed ($rc)" $(($(date +%s) - t0)) "$verdict"

  # The whole suite through CTest (parity tests again, as CTest sees them).
  t0=$(date +%s)
  run_limited $(($(left) - 100)) "$CTEST_LOG" ctest --test-dir "$BUILD" --output-on-failure -j 8 --timeout 120
  rc=$?
  verdict=$(grep -E 'tests passed|tests failed' "$CTEST_LOG" | tail -1)
  nskip=$(grep -cE '\*\*\*Skipped| Skipped ' "$CTEST_LOG")
  ((rc == 0)) && stage "ctest (GPU visible)" ok $(($(date +%s) - t0)) "$verdict; $nskip skipped" ||
    stage "ctest (GPU visible)" "failed ($rc)" $(($(date +%s) - t0)) "$verdict"

  # No GPU visible: the CPU path must work without the driver; CUDA tests report skipped.
  t0=$(date +%s)
  run_limited $(($(left) - 80)) "$CPU_ONLY_LOG" env CUDA_VISIBLE_DEVICES="" ctest --test-dir "$BUILD" -j 8 --timeout 120
  rc=$?
  verdict=$(grep -E 'tests passed|tests failed' "$CPU_ONLY_LOG" | tail -1)
  ((rc == 0)) && stage "ctest (CUDA_VISIBLE_DEVICES=)" ok $(($(date +%s) - t0)) "$verdict" ||
    stage "ctest (CUDA_VISIBLE_DEVICES=)" "failed ($rc)" $(($(date +%s) - t0)) "$verdict"
else
  stage tests "failed (no binary)" 0 "$TESTS was not built"
fi

# ---- benchmark --------------------------------------------------------------------------------
BENCH=$(find "$BUILD" -maxdepth 3 -type f -name bench_conv -perm -u+x 2>/dev/null | head -1)
if [[ -n "$BENCH" ]]; then
  t0=$(date +%s)
  # One batch size and short timings: the CPU rows it also measures are the slow part.
  run_limited $(($(left) - 60 < 90 ? $(left) - 60 : 90)) "$BENCH_LOG" "$BENCH" --batch 128 --min-time 0.1
  rc=$?
  ((rc == 0)) && stage bench_conv ok $(($(date +%s) - t0)) "see bench_conv.log" ||
    stage bench_conv "failed ($rc)" $(($(date +%s) - t0)) "$(tail -1 "$BENCH_LOG" | cut -c1-160)"
else
  stage bench_conv skipped 0 "not built"
fi

# ---- training on the GPU ----------------------------------------------------------------------
TRAIN=$(find "$BUILD" -maxdepth 3 -type f -name train_resnet -perm -u+x 2>/dev/null | head -1)
RUNS=$BUILD/gpu-check-runs
if [[ -n "$TRAIN" ]]; then
  rm -rf "$RUNS"
  mkdir -p "$RUNS"
  t0=$(date +%s)
  lim=$(($(left) - 40))
  ((lim > 120)) && lim=120
  run_limited $lim "$TRAIN_LOG" "$TRAIN" --device cuda --data synthetic --synthetic-size 4096 --epochs 2 \
    --batch-size 128 --workers 4 --out "$RUNS/synthetic"
  rc=$?
  note=$(tail -1 "$TRAIN_LOG" | cut -c1-160)
  for f in "$RUNS"/synthetic/*.csv; do [[ -f "$f" ]] && { echo "== $f" && cat "$f"; } >>"$TRAIN_LOG"; done
  ((rc == 0)) && stage "train_resnet synthetic (cuda)" ok $(($(date +%s) - t0)) "$note" ||
    stage "train_resnet synthetic (cuda)" "failed ($rc)" $(($(date +%s) - t0)) "$note"

  FMNIST=""
  for d in "${FASHION_MNIST_DIR:-}" "$ROOT/.data/fashion-mnist" /usr/share/datasets/fashion-mnist; do
    if [[ -n "$d" ]] && ls "$d"/train-images-idx3-ubyte* >/dev/null 2>&1; then FMNIST=$d; break; fi
  done
  if [[ -n "$FMNIST" ]]; then
    t0=$(date +%s)
    lim=$(($(left) - 10))
    ((lim > 120)) && lim=120
    run_limited $lim "$TRAIN_LOG" "$TRAIN" --device cuda --data "fashion-mnist:$FMNIST" --input-size 28 \
      --train-limit 20000 --epochs 1 --batch-size 128 --workers 4 --out "$RUNS/fashion-mnist"
    rc=$?
    note=$(tail -1 "$TRAIN_LOG" | cut -c1-160)
    for f in "$RUNS"/fashion-mnist/*.csv; do [[ -f "$f" ]] && { echo "== $f" && cat "$f"; } >>"$TRAIN_LOG"; done
    ((rc == 0)) && stage "train_resnet Fashion-MNIST (cuda)" ok $(($(date +%s) - t0)) "$note" ||
      stage "train_resnet Fashion-MNIST (cuda)" "failed ($rc)" $(($(date +%s) - t0)) "$note"
  else
    stage "train_resnet Fashion-MNIST (cuda)" skipped 0 "no IDX files (FASHION_MNIST_DIR, .data/fashion-mnist, /usr/share/datasets/fashion-mnist)"
  fi
else
  stage train_resnet skipped 0 "not built"
fi

# ---- what the parity tests measured -----------------------------------------------------------
if [[ -f "$PARITY_LOG" ]]; then
  say ""
  say "## Closest calls in the CUDA parity tests (worst error as a fraction of its tolerance)"
  say ""
  say '```'
  grep '^\[cuda parity\].*of its tolerance' "$PARITY_LOG" |
    sed -E 's/^(.*), ([0-9.e+-]+) of its tolerance.*/\2 \1/' | sort -g -r | head -12 | cut -c1-200 | tee -a "$SUMMARY"
  say '```'
  failed_checks=$(grep -B2 -A6 'FAILED' "$PARITY_LOG" | head -40)
  if [[ -n "$failed_checks" ]]; then
    say ""
    say "## Failures"
    say '```'
    echo "$failed_checks" | tee -a "$SUMMARY"
    say '```'
  fi
fi
say ""
say "Total: $(elapsed) s of a $BUDGET s budget. Result: $([[ $FAILED -eq 0 ]] && echo PASS || echo FAIL)"
exit $FAILED
