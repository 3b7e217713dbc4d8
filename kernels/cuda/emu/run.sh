#!/usr/bin/env bash
# Runs the CUDA parity tests (tests/test_cuda_parity.cpp) with every CUDA kernel of
# kernels/cuda/*.cu executed on the CPU by a small emulator, for machines with no GPU.
#
#   kernels/cuda/emu/run.sh [Catch2 arguments, e.g. "[conv]"]
#
# Each CUDA thread is a coroutine; __syncthreads is a block barrier and warp shuffles are warp
# barriers, so shared-memory tiling, reductions and index arithmetic run as written (and a
# barrier reached by only some threads is reported as a deadlock). cuBLAS is a plain loop and
# cuDNN is left out (the build is configured without it). What it cannot show: speed, memory
# coalescing, races between blocks, FMA contraction on the device, or anything of the real
# driver. It is a check of the arithmetic, not a substitute for a GPU run.
# Slow: the whole suite takes about four minutes on two cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${MINIDL_EMU_BUILD:-$root/build-emu}
mkdir -p "$work/inc" "$work/gen/minidl/kernels/cuda" "$work/src" "$work/obj"
ln -sfn "$root" "$work/inc/minidl"
cat >"$work/gen/minidl/config.h" <<'CFG'
#pragma once
#define MINIDL_VERSION "emulated"
#define MINIDL_VERSION_MAJOR 0
#define MINIDL_VERSION_MINOR 0
#define MINIDL_VERSION_PATCH 0
#define MINIDL_WITH_CUDA 1
#define MINIDL_WITH_CUDNN 0
#define MINIDL_WITH_ONEDNN 0
CFG

arch=$(uname -m)-linux-gnu
blas_inc=/usr/include/$arch/openblas-openmp
blas_lib=/usr/lib/$arch/openblas-openmp
[[ -d "$blas_inc" ]] || blas_inc=/usr/include/openblas
common=(-std=c++17 -O2 -fopenmp -I"$here/include" -I"$work/gen" -I"$work/inc" -I"$blas_inc")
emu_flags=(-Wall -Wextra -Wno-unknown-pragmas -Wno-unused-parameter -Wno-unused-function)

# Headers with launches in them (gemm_tile.cuh, reduce.cuh) are translated too; the translated
# copies come first on the include path.
for h in "$root"/kernels/cuda/*.cuh; do
  python3 "$here/translate.py" "$h" "$work/gen/minidl/kernels/cuda/$(basename "$h")"
done
jobs=()
for f in "$root"/kernels/cuda/*.cu; do
  b=$(basename "$f" .cu)
  python3 "$here/translate.py" "$f" "$work/src/$b.cpp.new"
  cmp -s "$work/src/$b.cpp.new" "$work/src/$b.cpp" 2>/dev/null || mv "$work/src/$b.cpp.new" "$work/src/$b.cpp"
  rm -f "$work/src/$b.cpp.new"
  jobs+=("$work/src/$b.cpp")
done
for f in "$root"/kernels/cuda/*.cpp "$root"/kernels/cpu/*.cpp "$root"/kernels/*.cpp "$root"/base/*.cpp \
  "$root"/tests/main.cpp "$root"/tests/test_cuda_parity.cpp; do
  jobs+=("$f")
done
compile() {
  local f=$1 o
  o=$work/obj/$(echo "${f#"$root"/}" | tr '/' '_').o
  # Rebuild when the source or any header in kernels/ or the emulator changed.
  if [[ -f "$o" && "$o" -nt "$f" ]] && [[ -z $(find "$root/kernels" "$here/include" -name '*.h' -newer "$o" -o -name '*.cuh' -newer "$o" | head -1) ]]; then
    return 0
  fi
  g++ "${common[@]}" "${emu_flags[@]}" -c "$f" -o "$o"
}
fail=0
for f in "${jobs[@]}"; do
  compile "$f" || fail=1
done
((fail == 0)) || { echo "emu: compile failed" >&2; exit 1; }
g++ -fopenmp -o "$work/parity_emu" "$work"/obj/*.o -L"$blas_lib" -lopenblas -Wl,-rpath,"$blas_lib"
exec "$work/parity_emu" "$@"
