#!/usr/bin/env bash
# A dry run, on a machine without a GPU, of the first thing scripts/gpu-check.sh must do on the
# GPU machine: configure and build the GPU targets from nothing but a bare image, the CUDA
# toolkit and what the device tool carries. Proves, before any device time is spent, that the
# build needs no Debian -dev package, no OpenBLAS and no pkg-config there, finds the carried
# .deps through CMAKE_PREFIX_PATH, and finds cuDNN and NCCL in a pip wheel's site-packages.
#
#   scripts/gpu-dryrun.sh [OUTDIR]      (root; default OUTDIR out/gpu-dryrun)
#
# 1. A bare Debian 12 root (mmdebstrap, else debootstrap; --variant=minbase) holding only a
#    compiler, CMake, ninja and python3, as the GPU image does; it is checked to hold none of the
#    project's -dev packages. Kept in GPU_DRYRUN_ROOT (default /tmp/minidl-gpu-dryrun-root) and
#    reused on the next run; GPU_DRYRUN_FRESH=1 makes a new one (CI always starts fresh).
# 2. The host's CUDA toolkit linked into it (hard links: no copy, no space) WITHOUT its cuDNN and
#    NCCL, which go instead into a fake pip layout, /opt/torch/.venv/lib/python3*/site-packages/
#    nvidia/{cudnn,nccl}/{include,lib}, with /opt/torch/.venv/bin first on PATH: the GPU
#    image's layout (nvidia-cudnn-cu13, nvidia-nccl-cu13 under /opt/torch/.venv).
# 3. Exactly the files the device tool sends: the tracked and untracked-not-ignored files of
#    this checkout, plus the carried folders (.deps, .data/fashion-mnist if present).
# 4. Inside the root: GPU_CHECK_DRYRUN=1 scripts/gpu-check.sh, the real script, which runs its
#    preflight (no driver check), configures and builds exactly its targets, then a CPU smoke run.
# Prints each phase's time. Exit status: gpu-check's, or 2 for a setup problem here.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
OUTDIR=${1:-$REPO/out/gpu-dryrun}
ROOTFS=${GPU_DRYRUN_ROOT:-/tmp/minidl-gpu-dryrun-root}
MIRROR=${GPU_DRYRUN_MIRROR:-http://deb.debian.org/debian}
CARRY=(.deps .data/fashion-mnist)
TOOLS=g++,cmake,ninja-build,python3
die() { echo "gpu-dryrun: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "needs root (it builds a root file system and chroots into it)"
CUDA=$(readlink -f "${CUDA_DIR:-/usr/local/cuda}")
[[ -x "$CUDA/bin/nvcc" ]] || die "no CUDA toolkit at ${CUDA_DIR:-/usr/local/cuda} (set CUDA_DIR)"
[[ -d .deps/usr ]] || die "no .deps: run scripts/prepare-gpu-deps.sh first (what the GPU call carries)"
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
T0=$SECONDS
phase() { echo "== gpu-dryrun: $* ($((SECONDS - T0)) s so far)"; }

# ---- 1. the bare root ---------------------------------------------------------------------------
source scripts/bare-root.sh
bare_root_unmount_below "$ROOTFS"
if [[ "${GPU_DRYRUN_FRESH:-0}" == 1 || ! -f "$ROOTFS/.minidl-bare-root" ]]; then
  t=$SECONDS
  BARE_ROOT_MIRROR=$MIRROR bare_root_create "$ROOTFS" "$TOOLS"
  chroot "$ROOTFS" python3 -m venv --without-pip /opt/torch/.venv
  touch "$ROOTFS/.minidl-bare-root"
  phase "bare Debian 12 root made in $((SECONDS - t)) s: $TOOLS and nothing of the project's"
else
  phase "reusing the bare root in $ROOTFS (GPU_DRYRUN_FRESH=1 for a new one)"
fi
# It must hold none of what the build would otherwise find on a developer's machine.
for f in usr/include/zlib.h usr/include/catch2 usr/include/CLI usr/include/nlohmann usr/include/stb \
  usr/include/x86_64-linux-gnu/openblas-openmp usr/include/cblas.h usr/include/oneapi usr/bin/pkg-config; do
  [[ ! -e "$ROOTFS/$f" ]] || die "$ROOTFS/$f exists: the root is not bare (GPU_DRYRUN_FRESH=1)"
done

# ---- 2. the CUDA toolkit, with cuDNN and NCCL moved into a pip layout ---------------------------
t=$SECONDS
rm -rf --one-file-system "$ROOTFS/usr/local/cuda-dryrun" "$ROOTFS/usr/local/cuda"
cp -al "$CUDA" "$ROOTFS/usr/local/cuda-dryrun" 2>/dev/null ||
  die "cannot hard-link $CUDA into $ROOTFS (another file system?): set GPU_DRYRUN_ROOT to a folder on the same one"
ln -s cuda-dryrun "$ROOTFS/usr/local/cuda"
site=$(echo "$ROOTFS"/opt/torch/.venv/lib/python3*/site-packages)
rm -rf "$site/nvidia"
for lib in cudnn nccl; do
  mkdir -p "$site/nvidia/$lib/include" "$site/nvidia/$lib/lib"
  touch "$site/nvidia/$lib/__init__.py"
  # Headers and libraries leave the toolkit (the GPU image has none there) for the wheel's folders;
  # the wheels ship only the versioned names (libcudnn.so.9, no libcudnn.so).
  while IFS= read -r f; do
    mv "$f" "$site/nvidia/$lib/include/"
  done < <(find "$ROOTFS/usr/local/cuda-dryrun/" \( -name "$lib*.h" -o -name "${lib}_device" \) -path '*include*' -prune)
  while IFS= read -r f; do
    if [[ -L "$f" ]]; then rm -f "$f"; else mv "$f" "$site/nvidia/$lib/lib/"; fi
  done < <(find "$ROOTFS/usr/local/cuda-dryrun/" -name "lib$lib*.so*")
done
[[ -z "$(find "$ROOTFS/usr/local/cuda-dryrun/" -name 'libcudnn*' -o -name 'cudnn*.h' | head -1)" ]] || die "cuDNN still in the toolkit copy"
phase "toolkit linked in, cuDNN and NCCL moved to $(echo "$site" | sed "s|^$ROOTFS||")/nvidia in $((SECONDS - t)) s"

# ---- 3. exactly what the device tool sends ----------------------------------------------------
t=$SECONDS
dest=$ROOTFS/work/minidl
rm -rf --one-file-system "$dest"
mkdir -p "$dest"
carried=()
for c in "${CARRY[@]}"; do [[ -e "$c" ]] && carried+=("$c"); done
{ git ls-files -z --cached --others --exclude-standard; printf '%s\0' "${carried[@]}"; } |
  tar -c --null -T - -f - | tar -x -C "$dest" -f -
size=$(du -sb "$dest" | cut -f1)
phase "tree copied: $((size / 1048576)) MiB with the carry (${carried[*]}), limit 64 MiB, in $((SECONDS - t)) s"
((size <= 64 * 1048576)) || die "the tree plus its carry is $((size / 1048576)) MiB: over the device tool's 64 MiB"

# ---- 4. gpu-check.sh in dry-run mode inside the root ------------------------------------------
bare_root_mount "$ROOTFS"
t=$SECONDS
set +e
chroot "$ROOTFS" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/opt/torch/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  GPU_CHECK_DRYRUN=1 GPU_CHECK_BUDGET="${GPU_CHECK_BUDGET:-7200}" GPU_CHECK_BUILD_BOUND="${GPU_CHECK_BUILD_BOUND:-5400}" \
  GPU_CHECK_JOBS="$(nproc)" \
  GPU_CHECK_COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' + local changes')" \
  bash /work/minidl/scripts/gpu-check.sh /work/out
rc=$?
set -e
phase "gpu-check.sh (dry run) exited $rc after $((SECONDS - t)) s"
rm -rf "$OUTDIR"/*
cp -r "$ROOTFS/work/out/." "$OUTDIR/"
echo "gpu-dryrun: logs in $OUTDIR; total $((SECONDS - T0)) s; $( ((rc == 0)) && echo PASSED || echo "FAILED (exit $rc)")"
exit $rc
