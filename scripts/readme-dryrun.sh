#!/usr/bin/env bash
# The README's two commands on a fresh Debian 12 machine, rehearsed: they must install everything
# they need themselves. CI runs on a machine that already has every package, so it cannot notice
# a dependency that install-deps.sh forgot; this can.
#
#   scripts/readme-dryrun.sh [--no-cuda] [--first-only] [OUTDIR]   (root; default OUTDIR out/readme-dryrun)
#
# 1. A new Debian 12 root, --variant=minbase, with nothing added (not even a compiler or git):
#    barer than any fresh install. Kept in README_DRYRUN_ROOT (default /tmp/minidl-readme-root)
#    and replaced on every run.
# 2. The host's CUDA toolkit mounted read-only at /usr/local/cuda, as on this project's machines
#    (so the CUDA backend is compiled as there); --no-cuda leaves it out (a CPU-only machine).
# 3. A clone of this checkout's HEAD (committed files only: what a user clones).
# 4. Inside the root, as root, in the clone: the README's first ```sh block (install, build, train
#    on the built-in faces), then its second (scripts/test.sh: the test dependencies, the build and
#    the whole suite); --first-only stops after the first. The commands are read from README.md
#    itself, so what runs is what the README says.
# Prints each phase's time; OUTDIR gets readme-1.log and readme-2.log. Exit status: the first
# command that failed (1), 0 when both passed, 2 for a setup problem here.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
cuda=1 first_only=0 OUTDIR=
for a in "$@"; do
  case $a in
    --no-cuda) cuda=0 ;;
    --first-only) first_only=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "readme-dryrun: unknown option $a (see --help)" >&2; exit 2 ;;
    *) OUTDIR=$a ;;
  esac
done
OUTDIR=${OUTDIR:-$REPO/out/readme-dryrun}
ROOTFS=${README_DRYRUN_ROOT:-/tmp/minidl-readme-root}
die() { echo "readme-dryrun: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "needs root (it builds a root file system and chroots into it)"
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
T0=$SECONDS
phase() { echo "== readme-dryrun: $* ($((SECONDS - T0)) s so far)"; }

# The README's ```sh blocks, in order, one line each (a block's lines joined with newlines).
mapfile -t blocks < <(awk '/^```sh$/ {inb = 1; cmd = ""; next}
  inb && /^```$/ {inb = 0; gsub(/\n/, "\\n", cmd); print cmd; next}
  inb {cmd = cmd (cmd == "" ? "" : "\n") $0}' README.md)
((${#blocks[@]} >= 2)) || die "README.md has fewer than two \`\`\`sh blocks"
git diff --quiet HEAD || echo "readme-dryrun: note: uncommitted changes are not part of the rehearsal (it clones HEAD)"

# ---- 1. the bare root ---------------------------------------------------------------------------
source scripts/bare-root.sh
t=$SECONDS
bare_root_create "$ROOTFS" ""
phase "bare Debian 12 root (minbase) made in $((SECONDS - t)) s"
for f in usr/bin/g++ usr/bin/cmake usr/bin/git usr/bin/python3; do
  [[ ! -e "$ROOTFS/$f" ]] || die "$ROOTFS/$f exists: the root is not bare"
done

# ---- 2. the CUDA toolkit ------------------------------------------------------------------------
if ((cuda)) && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  bare_root_bind_ro "$(readlink -f /usr/local/cuda)" "$ROOTFS/usr/local/cuda"
  phase "CUDA toolkit mounted read-only at /usr/local/cuda"
else
  phase "no CUDA toolkit in the root (a CPU-only machine)"
fi

# ---- 3. the clone -------------------------------------------------------------------------------
git clone -q --no-hardlinks "$REPO" "$ROOTFS/work/minidl"
phase "cloned $(git rev-parse --short HEAD) into /work/minidl"

# ---- 4. the README's commands -------------------------------------------------------------------
bare_root_mount "$ROOTFS"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"  # apt and pip inside need the host's name servers
run_block() {  # N: the README's Nth ```sh block, logged to OUTDIR/readme-N.log
  local n=$1 cmd=${blocks[$1 - 1]//\\n/$'\n'} t=$SECONDS rc
  phase "README command $n: $cmd"
  set +e
  chroot "$ROOTFS" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /work/minidl && set -euo pipefail && $cmd" > "$OUTDIR/readme-$n.log" 2>&1
  rc=$?
  set -e
  if ((rc != 0)); then
    tail -n 40 "$OUTDIR/readme-$n.log"
    phase "README command $n FAILED (exit $rc) after $((SECONDS - t)) s; log: $OUTDIR/readme-$n.log"
    exit 1
  fi
  phase "README command $n passed in $((SECONDS - t)) s"
}
run_block 1
((first_only)) || run_block 2
echo "readme-dryrun: PASSED in $((SECONDS - T0)) s; logs in $OUTDIR"
