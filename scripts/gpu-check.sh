#!/usr/bin/env bash
# The one prepared command for a GPU machine (an H200 first): everything the CUDA backend needs
# checked, in the order that matters, inside one call of the device tool.
#
# The call (from the checkout the session was started in; run scripts/prepare-gpu-deps.sh there
# first, which fills .deps with the build's Debian packages and .data/fashion-mnist):
#
#   command:   bash scripts/gpu-check.sh "$OUT"
#   timeout_s: 540
#   carry:     [".deps", ".data/fashion-mnist"]
#
# Stages, in this order; each has its own time bound, and all of them share GPU_CHECK_BUDGET
# (default 480 s). A stage that the budget no longer fits is reported "skipped (budget)", and one
# the budget cuts short "skipped (budget): cut after N s"; neither counts as a failure.
#   1. preflight (20 s): nvidia-smi sees a GPU, nvcc, cmake, a C++ compiler, the build's
#      dependencies (system or .deps), where cuDNN and NCCL are (the CUDA toolkit, the system or
#      a pip wheel's site-packages/nvidia/...), and that cudart, cuBLAS, every cuDNN library and
#      NCCL load. A missing essential stops here at once with a message and its own exit code.
#   2. configure and build only the targets the later stages run, sm_90, with -lineinfo.
#   3. the [cuda] tests with CUDA_LAUNCH_BLOCKING=1: one result line per kernel (test case).
#   4. compute-sanitizer: memcheck over the small parity tests, racecheck over the tests of the
#      kernels that use shared memory.
#   5. the CUDA and golden tests through CTest, and the CPU path with no GPU visible.
#   6. train_resnet --device cuda: a short synthetic-faces run and one Fashion-MNIST epoch.
#   7. the GPU rows of bench_gemm, bench_conv and bench_train, beside bench/pytorch_reference.py
#      --device cuda (eager FP32; channels_last + bf16 autocast; torch.compile); then
#      bench_train --profile: each op's device time in a training step.
#   8. the whole suite through CTest, if time is left.
#
# Writes to OUTDIR (at most 8 files, none in subfolders, so it can be the device tool's $OUT):
#   gpu-check.log   everything, in order       summary.json  every figure, machine-readable
#   gpu-check.md    a ready-to-commit Markdown fragment (device, driver, CUDA, cuDNN, date, figures)
#   build.log, parity.xml (Catch2 JUnit), bench.log, sanitizer.log
#
# Exit status: 0 all stages that ran passed; 1 a stage failed; 2 usage; 3 no GPU or driver;
# 4 no CUDA toolkit (nvcc); 5 no cmake >= 3.25 or no C++ compiler; 6 the CUDA runtime or cuBLAS
# does not load; 7 the build's dependencies are missing (run scripts/prepare-gpu-deps.sh, carry .deps).
# A cuDNN that is missing or does not load is not fatal: the build goes on without it, and says so.
#
# Environment knobs:
#   GPU_CHECK_BUDGET  seconds for all stages (default 480)
#   GPU_CHECK_BUILD   build folder (default build-gpu; ignored by git)
#   GPU_CHECK_JOBS    parallel compile jobs (default: all cores)
#   GPU_CHECK_BUILD_BOUND  the build stage's bound in seconds (default 300; the dry run on two
#                     shared cores needs far more)
#   GPU_CHECK_DRYRUN  1: no GPU expected (scripts/gpu-dryrun.sh): preflight without the driver,
#                     configure and build exactly as on the GPU, a CPU smoke run, then stop
#   GPU_CHECK_COMMIT  the commit to name in the report when the tree came without .git
#   MINIDL_DEPS_ROOT  the unpacked Debian packages (default .deps)
#   MINIDL_PYTHON     the python3 with PyTorch (default /opt/torch/.venv/bin/python3, else python3)
#   FASHION_MNIST_DIR the IDX files (default .data/fashion-mnist, then /usr/share/datasets/fashion-mnist)
set -uo pipefail

usage() { echo "usage: $0 [OUTDIR]   (default: \$OUT, else out/gpu-check)" >&2; exit 2; }
[[ $# -le 1 ]] || usage
[[ "${1:-}" == -h || "${1:-}" == --help ]] && { sed -n '2,46p' "$0"; exit 0; }
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
OUTDIR=${1:-${OUT:-$ROOT/out/gpu-check}}
mkdir -p "$OUTDIR" || usage
OUTDIR=$(cd "$OUTDIR" && pwd)
BUDGET=${GPU_CHECK_BUDGET:-480}
BUILD=${GPU_CHECK_BUILD:-$ROOT/build-gpu}
JOBS=${GPU_CHECK_JOBS:-$(nproc)}
DRYRUN=${GPU_CHECK_DRYRUN:-0}
WORK=$BUILD/gpu-check
START=$(date +%s)

LOG=$OUTDIR/gpu-check.log
BUILD_LOG=$OUTDIR/build.log
PARITY_XML=$OUTDIR/parity.xml
BENCH_LOG=$OUTDIR/bench.log
SAN_LOG=$OUTDIR/sanitizer.log
mkdir -p "$WORK"
rm -f "$WORK"/*.tsv "$WORK"/*.jsonl "$WORK"/*.txt
: >"$LOG"
: >"$BUILD_LOG"
: >"$BENCH_LOG"
: >"$SAN_LOG"
rm -f "$PARITY_XML" "$OUTDIR/summary.json" "$OUTDIR/gpu-check.md"

elapsed() { echo $(($(date +%s) - START)); }
left() { echo $((BUDGET - $(elapsed))); }
log() { echo "$*" | tee -a "$LOG"; }
env_note() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/env.tsv"; log "  $1: $2"; }
# record NAME STATUS SECONDS BOUND NOTE: one row of the stage table.
record() {
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$WORK/stages.tsv"
  log "== $1: $2 (${3} s of ${4} s)${5:+ - $5}"
}
PY=${MINIDL_PYTHON:-}
if [[ -z "$PY" ]]; then
  if [[ -x /opt/torch/.venv/bin/python3 ]]; then PY=/opt/torch/.venv/bin/python3; else PY=$(command -v python3 || true); fi
fi
export MINIDL_PYTHON=$PY
report() {  # writes summary.json and gpu-check.md from what the stages left in WORK
  if [[ -n "$PY" ]]; then
    "$PY" "$ROOT/scripts/gpu_check_report.py" summary "$WORK" "$OUTDIR" "$BUDGET" "$DRYRUN" >>"$LOG" 2>&1 ||
      log "(the report script failed; the log above is the record)"
  else
    log "(no python3: summary.json and gpu-check.md not written; the log is the record)"
  fi
}
# stop CODE MESSAGE: the preflight's verdict on something essential.
stop() {
  record preflight "failed (exit $1)" "$(elapsed)" 20 "$2"
  log ""
  log "gpu-check: $2"
  log "gpu-check: stopped at the preflight (exit $1); nothing was built or run."
  report
  exit "$1"
}

# run_stage NAME BOUND MIN LOGFILE CMD...: runs CMD under min(BOUND, budget left), output
# appended to LOGFILE (and to the main log when LOGFILE is it). Returns CMD's status; 200 when
# the stage did not run. Sets STAGE_SECONDS and STAGE_CUT (1 when the budget cut it).
run_stage() {
  local name=$1 bound=$2 min=$3 logf=$4
  shift 4
  local avail
  avail=$(left)
  STAGE_SECONDS=0
  STAGE_CUT=0
  if ((avail < min)); then
    record "$name" "skipped (budget)" 0 "$bound" "needs at least ${min} s, ${avail} s of the budget left"
    return 200
  fi
  local lim=$bound
  ((avail < lim)) && lim=$avail
  log "-- $name (bound ${bound} s, running under ${lim} s): $*"
  local t0 rc
  t0=$(date +%s)
  echo "\$ $*" >>"$logf"
  timeout --kill-after=5 "$lim" "$@" >>"$logf" 2>&1
  rc=$?
  STAGE_SECONDS=$(($(date +%s) - t0))
  if [[ $rc -eq 124 || $rc -eq 137 ]] && ((lim < bound)); then STAGE_CUT=1; fi
  return $rc
}
# finish_stage NAME BOUND RC NOTE: records the verdict of a stage run by run_stage.
FAILED=0
finish_stage() {
  local name=$1 bound=$2 rc=$3 note=${4:-}
  ((rc == 200)) && return 0
  if ((rc == 0)); then
    record "$name" ok "$STAGE_SECONDS" "$bound" "$note"
  elif ((STAGE_CUT)); then
    record "$name" "skipped (budget)" "$STAGE_SECONDS" "$bound" "cut after ${STAGE_SECONDS} s by the budget; $note"
  elif ((rc == 124 || rc == 137)); then
    record "$name" "failed (timed out at its ${bound} s bound)" "$STAGE_SECONDS" "$bound" "$note"
    FAILED=1
  else
    record "$name" "failed (exit $rc)" "$STAGE_SECONDS" "$bound" "$note"
    FAILED=1
  fi
}

log "# minidl GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), budget ${BUDGET} s$([[ $DRYRUN == 1 ]] && echo ', DRY RUN (no GPU expected)')"
log "host $(hostname), $(nproc) cores"
env_note date "$(date -u '+%Y-%m-%d %H:%M UTC')"
if git rev-parse --short HEAD >/dev/null 2>&1; then
  env_note commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo ' + local changes')"
else
  env_note commit "${GPU_CHECK_COMMIT:-unknown (the tree came without .git; GPU_CHECK_COMMIT names it)}"
fi
env_note cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores)"

# ---- 1. preflight --------------------------------------------------------------------------
log ""
log "-- preflight"
if [[ $DRYRUN == 1 ]]; then
  env_note gpu "not checked (dry run)"
else
  command -v nvidia-smi >/dev/null 2>&1 || stop 3 "no nvidia-smi on PATH: this machine shows no NVIDIA driver, so there is no GPU to check"
  q=$(timeout 10 nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1)
  rc=$?
  { ((rc == 0)) && [[ -n "$q" ]]; } || stop 3 "nvidia-smi found no usable GPU (exit $rc): $(echo "$q" | head -2 | tr '\n' ' ')"
  IFS=, read -r gname gdriver gmem gcap <<<"$(echo "$q" | head -1)"
  env_note gpu "$(echo "$gname" | sed 's/^ *//')"
  env_note driver "$(echo "$gdriver" | sed 's/^ *//')"
  env_note gpu_memory "$(echo "$gmem" | sed 's/^ *//')"
  env_note compute_capability "$(echo "$gcap" | sed 's/^ *//')"
  env_note gpus "$(echo "$q" | wc -l)"
  env_note cuda_driver_api "$(timeout 10 nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1 | cut -d' ' -f3)"
fi

NVCC=""
for c in "${CUDACXX:-}" "$(command -v nvcc 2>/dev/null)" /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc; do
  if [[ -n "$c" && -x "$c" ]]; then NVCC=$c; break; fi
done
[[ -n "$NVCC" ]] || stop 4 "no nvcc (CUDA toolkit) on PATH, in CUDACXX or under /usr/local/cuda*"
CUDA_HOME=$(cd "$(dirname "$NVCC")/.." && pwd)
env_note nvcc "$NVCC ($(timeout 10 "$NVCC" --version 2>/dev/null | grep -o 'release [0-9.]*, V[0-9.]*' | head -1))"
CUDA_LIB=""
for d in "$CUDA_HOME/lib64" "$CUDA_HOME/targets/$(uname -m)-linux/lib" "$CUDA_HOME/lib"; do
  if ls "$d"/libcudart.so* >/dev/null 2>&1; then CUDA_LIB=$d; break; fi
done
[[ -n "$CUDA_LIB" ]] || stop 4 "no libcudart.so under $CUDA_HOME (lib64, targets/*/lib, lib): the CUDA toolkit is incomplete"

command -v cmake >/dev/null 2>&1 || stop 5 "no cmake on PATH (minidl needs CMake >= 3.25)"
cmv=$(cmake --version | head -1 | grep -o '[0-9][0-9.]*')
if [[ "$(printf '%s\n3.25\n' "$cmv" | sort -V | head -1)" != 3.25 ]]; then
  stop 5 "cmake $cmv is older than the 3.25 minidl needs"
fi
env_note cmake "$cmv"
CXX_BIN=${CXX:-$(command -v g++ || command -v c++ || true)}
[[ -n "$CXX_BIN" ]] || stop 5 "no C++ compiler (g++ or c++) on PATH"
env_note compiler "$("$CXX_BIN" --version | head -1)"
GENERATOR=Ninja
command -v ninja >/dev/null 2>&1 || GENERATOR="Unix Makefiles"
env_note generator "$GENERATOR"

# The build's Debian packages, unpacked by scripts/prepare-gpu-deps.sh, when the system lacks them.
DEPS=${MINIDL_DEPS_ROOT:-$ROOT/.deps}
PREFIXES=()
if [[ -d "$DEPS/usr" ]]; then
  DEPS=$(cd "$DEPS" && pwd)
  PREFIXES+=("$DEPS/usr")
  env_note build_deps "$DEPS ($(du -sh "$DEPS" 2>/dev/null | cut -f1); $(tr '\n' ' ' <"$DEPS/MANIFEST" 2>/dev/null | cut -c1-300))"
fi
have_dep() {  # have_dep GLOB...: any match under the prefixes or the system
  local g p
  for g in "$@"; do
    for p in "${PREFIXES[@]}" /usr /usr/local; do
      compgen -G "$p/$g" >/dev/null && return 0
    done
  done
  return 1
}
missing=()
have_dep 'lib/cmake/Catch2/Catch2Config.cmake' 'share/cmake/Catch2/Catch2Config.cmake' || missing+=(Catch2)
have_dep 'share/cmake/CLI11/CLI11Config.cmake' 'lib/cmake/CLI11/CLI11Config.cmake' || missing+=(CLI11)
have_dep 'share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake' 'lib/cmake/nlohmann_json/nlohmann_jsonConfig.cmake' || missing+=(nlohmann_json)
have_dep 'include/stb/stb_image.h' 'include/stb_image.h' || missing+=(stb)
((${#missing[@]} == 0)) || stop 7 "build dependencies not found: ${missing[*]} (not in the system, nor in $DEPS): run scripts/prepare-gpu-deps.sh where apt works and carry .deps"
have_dep 'include/zlib.h' || env_note zlib "no zlib.h: gzip'd IDX files (Fashion-MNIST) will not load"

# cuDNN and NCCL: the toolkit or the system, else a pip wheel (the same search CMake makes).
find_nvidia() {  # find_nvidia NAME HEADER LIBGLOB: prints the lib folder, or nothing
  local name=$1 hdr=$2 lib=$3 d l root roots=("$CUDA_HOME" /usr/local/cuda /usr)
  [[ $name == cudnn && -n "${MINIDL_CUDNN_ROOT:-}" ]] && roots=("$MINIDL_CUDNN_ROOT" "${roots[@]}")
  for d in "${roots[@]}"; do
    for l in "$d/lib64" "$d/lib" "$d/lib/$(uname -m)-linux-gnu"; do
      if [[ -f "$d/include/$hdr" ]] && compgen -G "$l/$lib" >/dev/null; then echo "$l"; return; fi
    done
  done
  root=$(PATH="$(dirname "${PY:-/nonexistent/python3}"):$PATH" timeout 20 cmake -DNAME="$name" -P "$ROOT/cmake/MinidlNvidiaWheel.cmake" 2>/dev/null)
  [[ -n "$root" ]] && echo "$root/lib"
}
CUDNN_LIB=$(find_nvidia cudnn cudnn.h 'libcudnn.so*')
NCCL_LIB=$(find_nvidia nccl nccl.h 'libnccl.so*')
no_cudnn="NOT FOUND (the build goes on with minidl's own convolution and batch-norm kernels)"
env_note cudnn_dir "${CUDNN_LIB:-$no_cudnn}"
env_note nccl_dir "${NCCL_LIB:-not found (minidl does not use NCCL yet)}"
# The tests, apps and benchmarks load cuDNN's sub-libraries by name: put its folder on the path.
LIBS_PATH=$CUDA_LIB
[[ -n "$CUDNN_LIB" ]] && LIBS_PATH="$CUDNN_LIB:$LIBS_PATH"
export LD_LIBRARY_PATH="$LIBS_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

CUDNN_ARG=-DMINIDL_CUDNN=AUTO
if [[ -z "$PY" ]]; then
  env_note libraries "not loaded (no python3 for the check); the build will show"
else
  libs=$(timeout 15 "$PY" "$ROOT/scripts/gpu_check_libs.py" "$CUDA_LIB" "${CUDNN_LIB:--}" "${NCCL_LIB:--}" 2>&1)
  rc=$?
  echo "$libs" >"$WORK/libs.json"
  echo "  libraries: $libs" >>"$LOG"
  field() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$WORK/libs.json" "$1" 2>/dev/null; }
  ((rc == 0)) || stop 6 "the CUDA runtime or cuBLAS does not load from $CUDA_LIB: $(echo "$libs" | tail -c 400)"
  rv=$(field 'd["cudart"]["runtime_version"]')
  env_note cuda_runtime "$((rv / 1000)).$((rv % 1000 / 10)) (libcudart in $CUDA_LIB)"
  env_note cublas "$(field 'd["cublas"]["version"]')"
  if [[ $DRYRUN != 1 ]]; then
    n=$(field 'd["cudart"]["device_count"]')
    [[ "$n" =~ ^[1-9] ]] || stop 3 "nvidia-smi sees a GPU but cudaGetDeviceCount gives ${n:-?} (error $(field 'd["cudart"]["device_count_error"]')): the driver and this CUDA runtime do not work together"
  fi
  if [[ -n "$CUDNN_LIB" ]]; then
    if [[ "$(field 'd["cudnn"]["loaded"]')" == True ]]; then
      env_note cudnn "$(field 'd["cudnn"]["version"]') (every libcudnn*.so in $CUDNN_LIB loads)"
    else
      env_note cudnn "FOUND BUT DOES NOT LOAD, so the build leaves it out: $(field '[k + ": " + str(v["error"]) for k, v in d["cudnn"]["libraries"].items() if not v["loaded"]] or d["cudnn"]["error"]' | cut -c1-400)"
      CUDNN_ARG=-DMINIDL_CUDNN=OFF
    fi
  else
    env_note cudnn "not found"
    CUDNN_ARG=-DMINIDL_CUDNN=OFF
  fi
  [[ -n "$NCCL_LIB" ]] && env_note nccl "$(field 'd["nccl"].get("version") or ("does not load: " + str(d["nccl"]["error"]))')"
fi
env_note python "${PY:-none} ($("$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>/dev/null || echo 'no torch'))"
pf=$(elapsed)
record preflight ok "$pf" 20 "$( ((pf > 20)) && echo "over its 20 s bound")"

# ---- 2. configure and build ----------------------------------------------------------------
TARGETS=(minidl_tests train_resnet evaluate predict bench_conv bench_gemm bench_train)
prefix_path=$(IFS=';'; echo "${PREFIXES[*]}")
# In the environment too, for the CMake runs inside the tests (the install test's consumer
# project finds zlib there through minidl's package config).
export CMAKE_PREFIX_PATH="$(IFS=':'; echo "${PREFIXES[*]}")${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
rm -f "$BUILD/CMakeCache.txt"
run_stage configure 60 20 "$BUILD_LOG" cmake -S "$ROOT" -B "$BUILD" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release \
  -DMINIDL_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_FLAGS=-lineinfo \
  "$CUDNN_ARG" -DCMAKE_PREFIX_PATH="$prefix_path" -DMINIDL_BUILD_TESTS=ON -DMINIDL_BUILD_APPS=ON -DMINIDL_BUILD_BENCH=ON
rc=$?
summary_lines=$(grep -E '^-- +(CUDA archs|cuDNN|CPU GEMM|zlib) ' "$BUILD_LOG" | sed 's/^-- *//' | paste -sd';')
finish_stage configure 60 $rc "$summary_lines"
grep -E '^-- +(minidl|  )' "$BUILD_LOG" | tail -12 >>"$LOG"
if ((rc != 0)); then
  log "$(grep -m3 -E 'CMake Error|Error|not found' "$BUILD_LOG")"
  log "gpu-check: configure failed; nothing else can run."
  report
  exit 1
fi
BUILD_BOUND=${GPU_CHECK_BUILD_BOUND:-300}
run_stage build "$BUILD_BOUND" 60 "$BUILD_LOG" cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"
rc=$?
finish_stage build "$BUILD_BOUND" $rc "$(grep -c 'warning' "$BUILD_LOG") lines of the build log mention 'warning'"
if ((rc != 0)); then
  log "$(grep -m5 -E 'error|Error' "$BUILD_LOG")"
  log "gpu-check: the build failed; nothing else can run."
  report
  exit 1
fi
TESTS=$BUILD/tests/minidl_tests
TRAIN=$BUILD/apps/train_resnet

FMNIST=""
for d in "${FASHION_MNIST_DIR:-}" "$ROOT/.data/fashion-mnist" /usr/share/datasets/fashion-mnist; do
  if [[ -n "$d" ]] && compgen -G "$d/train-images-idx3-ubyte*" >/dev/null; then FMNIST=$d; break; fi
done
RUNS=$WORK/runs
rm -rf "$RUNS"
mkdir -p "$RUNS"

if [[ $DRYRUN == 1 ]]; then
  # No GPU: prove that the binaries start (every library resolves), that the CPU GEMM they use
  # is right, and that the apps train and read the carried Fashion-MNIST (zlib).
  smoke="'$TESTS' --list-test-names-only '[cuda]' | head -3 && '$TRAIN' --help | head -2 && '$TESTS' '[gemm],[cuda]'"
  smoke+=" && '$TRAIN' --device cpu --width 4 --input-size 32 --synthetic-size 96 --epochs 1 --batch-size 16 --workers 1 --quiet --out '$RUNS/smoke'"
  [[ -n "$FMNIST" ]] && smoke+=" && '$TRAIN' --device cpu --data 'fashion-mnist:$FMNIST' --input-size 28 --width 4 --train-limit 256 --epochs 1 --batch-size 64 --workers 1 --quiet --out '$RUNS/smoke-fmnist'"
  run_stage "smoke (CPU): binaries start, GEMM tests, two tiny trainings" 900 10 "$LOG" bash -c "$smoke"
  finish_stage "smoke (CPU): binaries start, GEMM tests, two tiny trainings" 900 $? \
    "$([[ -n "$FMNIST" ]] && echo "Fashion-MNIST read from $FMNIST" || echo "no Fashion-MNIST files to read")"
  log "gpu-check: dry run: the GPU stages (parity, sanitizer, ctest, training, benchmarks) were not run."
  report
  exit $FAILED
fi
# From here on a test that would skip for want of a GPU (or of PyTorch, which this machine has)
# fails instead (tests/support: MINIDL_REQUIRE_GPU, MINIDL_REQUIRE_TORCH).
export MINIDL_REQUIRE_GPU=1
[[ -n "$PY" ]] && "$PY" -c 'import torch, torchvision' 2>/dev/null && export MINIDL_REQUIRE_TORCH=1

# ---- 3. the [cuda] tests, one line per kernel ------------------------------------------------
run_stage "cuda tests ([cuda], CUDA_LAUNCH_BLOCKING=1)" 120 20 "$WORK/parity.txt" \
  env CUDA_LAUNCH_BLOCKING=1 "$TESTS" "[cuda]" -r junit -o "$PARITY_XML"
rc=$?
"$TESTS" --list-test-names-only "[cuda]" 2>/dev/null | sed '/^$/d' >"$WORK/cuda-tests.txt"
: >"$WORK/parity-lines.txt"
if [[ -s "$PARITY_XML" && -n "$PY" ]]; then
  "$PY" "$ROOT/scripts/gpu_check_report.py" parity "$PARITY_XML" "$WORK/cuda-tests.txt" >"$WORK/parity-lines.txt" 2>&1
  cat "$WORK/parity-lines.txt" >>"$LOG"
  cat "$WORK/parity-lines.txt"
fi
cat "$WORK/parity.txt" >>"$LOG" 2>/dev/null
finish_stage "cuda tests ([cuda], CUDA_LAUNCH_BLOCKING=1)" 120 $rc "$(grep -c '^PASS' "$WORK/parity-lines.txt") passed, $(grep -c '^FAIL' "$WORK/parity-lines.txt") failed, $(grep -c '^SKIP' "$WORK/parity-lines.txt") skipped, $(grep -c '^NONE' "$WORK/parity-lines.txt") with no assertion"

# ---- 4. compute-sanitizer --------------------------------------------------------------------
SAN=""
for c in "$(command -v compute-sanitizer 2>/dev/null)" "$CUDA_HOME/bin/compute-sanitizer" "$CUDA_HOME"/compute-sanitizer/compute-sanitizer; do
  if [[ -n "$c" && -x "$c" ]]; then SAN=$c; break; fi
done
# Small tests only (the FER-sized convolutions would take minutes under the tools); Catch2's
# patterns, since some names hold commas.
# The bf16 channels-last packing, the sync batch-norm kernels and the implicit GEMM's tensor-core
# tiles (bf16 pairs in shared memory, double-buffered) reduce, transpose or stage through shared
# memory, so racecheck sees them too.
MEMCHECK_FILTER='[cuda][elementwise],[cuda][linear],[cuda][pool],[cuda][loss],[cuda][optim],[cuda][augment],*our kernels*,*tiled SGEMM*,[cuda][sync_batch_norm],*channels-last bf16 and widening*,*the implicit GEMM reading packed bf16*,*runs on tensor cores from sm_80*,*allow_tf32 runs the implicit GEMM*'
RACECHECK_FILTER='*tiled SGEMM*,*our kernels*,*log_softmax*,*fused softmax*,*elementwise ops*,*sync batch norm kernels on each rank*,*channels-last bf16 and widening*,*the implicit GEMM reading packed bf16*'
sanitize() {  # sanitize TOOL FILTER BOUND
  local tool=$1 filter=$2 bound=$3 name="compute-sanitizer $1"
  if [[ -z "$SAN" ]]; then
    record "$name" "not run" 0 "$bound" "no compute-sanitizer in PATH or $CUDA_HOME"
    return
  fi
  echo "==== $tool over: $filter" >>"$SAN_LOG"
  run_stage "$name" "$bound" 15 "$SAN_LOG" "$SAN" --tool "$tool" --error-exitcode 97 --print-limit 20 "$TESTS" "$filter"
  local rc=$?
  local errs
  errs=$(grep -E '^========= (ERROR SUMMARY|RACECHECK SUMMARY)' "$SAN_LOG" | tail -1 | sed 's/^========= //')
  if grep -q -E 'Device not supported|unsupported device|error 999' "$SAN_LOG"; then
    # gVisor machines refuse the tools (KINDS.md); that is the machine, not the code.
    record "$name" "not available here" "$STAGE_SECONDS" "$bound" "compute-sanitizer refused the device: $(grep -m1 -E 'Device not supported|unsupported|999' "$SAN_LOG" | cut -c1-160)"
  elif ((rc == 124 || rc == 137)) && ((STAGE_CUT == 0)); then
    record "$name" "incomplete (its ${bound} s bound)" "$STAGE_SECONDS" "$bound" "no error reported before the bound; ${errs:-no summary}"
  else
    finish_stage "$name" "$bound" $rc "${errs:-no summary line}"
  fi
}
sanitize memcheck "$MEMCHECK_FILTER" 60
sanitize racecheck "$RACECHECK_FILTER" 45

# ---- 5. golden and CUDA tests through CTest; the CPU path with no GPU -------------------------
# Every test that needs a GPU is tagged [cuda] and ran in stage 3, a line each; CTest runs the
# golden files (the GPU one again, as CTest sees it) and the PyTorch interop check (MINIDL_PYTHON).
# logged NAME BOUND MIN FILE CMD...: run_stage with the output in WORK/FILE, then in the main log.
logged() {
  local name=$1 bound=$2 min=$3 file=$WORK/$4
  shift 4
  : >"$file"
  run_stage "$name" "$bound" "$min" "$file" "$@"
  local rc=$?
  cat "$file" >>"$LOG"
  return $rc
}
ctest_counts() {  # what a (possibly cut) CTest run got through
  local f=$1
  echo "$(grep -c ' Passed ' "$f") passed, $(grep -cE '\*\*\*Failed|\*\*\*Timeout|\*\*\*Exception' "$f") failed, $(grep -c '\*\*\*Skipped' "$f") skipped; $(grep -E 'tests passed|tests failed' "$f" | tail -1)"
}
logged "ctest: golden and interop tests" 90 15 ctest-golden.txt ctest --test-dir "$BUILD" --output-on-failure \
  -j 8 --timeout 120 -R 'golden|interop|without touching CUDA'
rc=$?
finish_stage "ctest: golden and interop tests" 90 $rc "$(ctest_counts "$WORK/ctest-golden.txt")"
logged "no GPU visible (CUDA_VISIBLE_DEVICES=)" 30 10 no-gpu.txt env CUDA_VISIBLE_DEVICES= MINIDL_REQUIRE_GPU=0 \
  "$TESTS" "[tensor]"
rc=$?
finish_stage "no GPU visible (CUDA_VISIBLE_DEVICES=)" 30 $rc "$(grep -E '^(All tests passed|test cases:)' "$WORK/no-gpu.txt" | tail -1)"

# ---- 6. training on the GPU --------------------------------------------------------------------
train_note() {  # the last epoch's metrics, or the error
  local run=$1 out=$2
  if [[ -s "$run/metrics.csv" ]]; then
    echo "$(head -1 "$run/metrics.csv" | tr ',' ' ' | cut -c1-80): $(tail -1 "$run/metrics.csv")"
  else
    grep -v '^\$' "$out" | tail -2 | tr '\n' ' ' | cut -c1-300
  fi
}
logged "train_resnet synthetic faces (cuda)" 60 20 train-synthetic.txt "$TRAIN" --device cuda --data synthetic \
  --synthetic-size 6144 --epochs 2 --batch-size 128 --workers 8 --out "$RUNS/synthetic"
rc=$?
finish_stage "train_resnet synthetic faces (cuda)" 60 $rc "$(train_note "$RUNS/synthetic" "$WORK/train-synthetic.txt")"
if [[ -n "$FMNIST" ]]; then
  logged "train_resnet Fashion-MNIST, one epoch (cuda)" 120 30 train-fmnist.txt "$TRAIN" --device cuda \
    --data "fashion-mnist:$FMNIST" --input-size 28 --epochs 1 --batch-size 256 --workers 8 --aug off \
    --out "$RUNS/fashion-mnist"
  rc=$?
  finish_stage "train_resnet Fashion-MNIST, one epoch (cuda)" 120 $rc "$(train_note "$RUNS/fashion-mnist" "$WORK/train-fmnist.txt")"
else
  record "train_resnet Fashion-MNIST, one epoch (cuda)" "not run" 0 120 "no IDX files (FASHION_MNIST_DIR, .data/fashion-mnist, /usr/share/datasets/fashion-mnist): carry .data/fashion-mnist"
fi

# ---- 7. benchmarks: minidl's GPU rows beside PyTorch's ------------------------------------------
BENCH=$BUILD/bench
bench() {  # bench NAME BOUND MIN CMD...: output to bench.log and to WORK/NAME.txt
  local name=$1 bound=$2 min=$3
  shift 3
  echo "==== $name" >>"$BENCH_LOG"
  run_stage "$name" "$bound" "$min" "$WORK/$name.txt" "$@"
  local rc=$?
  cat "$WORK/$name.txt" >>"$BENCH_LOG" 2>/dev/null
  finish_stage "$name" "$bound" $rc
}
bench bench_gemm 40 15 "$BENCH/bench_gemm" --gpu-only --squares 4096,8192 --min-time 0.2
# fp32: each backend strict and with TF32 allowed ("tf32" rows), so twice the rows of before.
bench bench_conv 70 20 "$BENCH/bench_conv" --gpu-only --batch 256 --min-time 0.05
# bf16: the implicit GEMM on packed NCHW bf16, on tensor cores ("implicit_gemm tc") and on CUDA
# cores, against cuDNN's tensor cores on channels-last bf16.
bench bench_conv_bf16 55 15 "$BENCH/bench_conv" --gpu-only --batch 256 --min-time 0.05 --precision bf16
# fp32 and bf16, each eager and as a replayed CUDA graph (JSON "variant": fp32, fp32+graph, ...).
bench bench_train 90 20 "$BENCH/bench_train" --device cuda --json --mode all --batch 256 --steps 20 --warmup 5 \
  --precision all --cuda-graph both
if [[ -n "$PY" ]] && "$PY" -c 'import torch, torchvision' 2>/dev/null; then
  bench pytorch_eager_amp 80 20 "$PY" "$ROOT/bench/pytorch_reference.py" --device cuda --json --mode all \
    --batch 256 --steps 20 --warmup 5 --variants eager,amp
  bench pytorch_compile 90 40 "$PY" "$ROOT/bench/pytorch_reference.py" --device cuda --json --mode train \
    --batch 256 --steps 20 --warmup 5 --variants compile
else
  record "pytorch reference" "not run" 0 0 "$PY has no torch/torchvision"
fi
# Where a GPU step goes: each op family's device time (kernels/cuda/profile.h), fp32 and bf16,
# eager, after the rates above (two CUDA events per op slow the step a little).
bench bench_train_profile 40 15 "$BENCH/bench_train" --device cuda --mode train --batch 256 --steps 5 --warmup 3 \
  --precision all --profile

# ---- 8. the whole suite, if time is left ------------------------------------------------------
logged "ctest: the whole suite" 600 60 ctest-all.txt ctest --test-dir "$BUILD" -j "$JOBS" --timeout 300 --output-on-failure
rc=$?
finish_stage "ctest: the whole suite" 600 $rc "$(ctest_counts "$WORK/ctest-all.txt")"

log ""
log "total: $(elapsed) s of a ${BUDGET} s budget; result: $([[ $FAILED -eq 0 ]] && echo PASS || echo FAIL)"
report
exit $FAILED
