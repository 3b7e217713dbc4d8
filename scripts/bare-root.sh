# Sourced, not run: the bare Debian 12 root that the dry runs use (scripts/gpu-dryrun.sh: the GPU
# machine's build; scripts/readme-dryrun.sh: the README's commands on a fresh machine).
#   bare_root_create ROOT TOOLS   a new minbase bookworm root in ROOT holding TOOLS (comma list)
#   bare_root_mount ROOT          proc, dev and sys inside it, for chroot
#   bare_root_bind_ro DIR PATH    the host's DIR, read-only, at PATH (a full path below a root)
#   bare_root_unmount_below ROOT  what a run killed half-way left mounted there
# The mounts register themselves; the EXIT trap set here takes them away again. The caller
# needs `die` (message, exit 2) and may set BARE_ROOT_MIRROR (default deb.debian.org).

bare_root_mounted=()
bare_root_cleanup() {
  local i
  for ((i = ${#bare_root_mounted[@]} - 1; i >= 0; i--)); do umount -l "${bare_root_mounted[i]}" 2>/dev/null || true; done
}
trap bare_root_cleanup EXIT

# Away before anything is deleted: rm also stays on this file system, so it could never walk
# into /dev or /proc through one, but a stale mount would keep the old root half alive.
bare_root_unmount_below() {
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v r="$1" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r)
}

bare_root_create() {
  local root=$1 tools=$2 mirror=${BARE_ROOT_MIRROR:-http://deb.debian.org/debian}
  bare_root_unmount_below "$root"
  rm -rf --one-file-system "$root"
  if ! command -v mmdebstrap >/dev/null && ! command -v debootstrap >/dev/null; then
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq mmdebstrap >/dev/null 2>&1 ||
      apt-get -o DPkg::Lock::Timeout=900 install -y -qq debootstrap >/dev/null
  fi
  local include=()
  [[ -n "$tools" ]] && include=(--include="$tools")
  if command -v mmdebstrap >/dev/null; then
    mmdebstrap --quiet --variant=minbase "${include[@]}" bookworm "$root" "$mirror" || die "mmdebstrap failed"
  else
    debootstrap --variant=minbase "${include[@]}" bookworm "$root" "$mirror" >/dev/null || die "debootstrap failed"
  fi
}

bare_root_mount() {
  local root=$1 m
  for m in proc dev sys; do
    mkdir -p "$root/$m"
    case $m in
      proc) mount -t proc proc "$root/proc" ;;
      *) mount --rbind "/$m" "$root/$m" && mount --make-rslave "$root/$m" ;;
    esac
    bare_root_mounted+=("$root/$m")
  done
}

bare_root_bind_ro() {
  mkdir -p "$2"
  mount --bind "$1" "$2"
  bare_root_mounted+=("$2")
  mount -o remount,bind,ro "$2"
}
