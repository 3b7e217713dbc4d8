#!/usr/bin/env bash
# Prepares .deps/: the Debian packages minidl builds against (OpenBLAS, Catch2, CLI11,
# nlohmann-json, stb, zlib headers), downloaded here and unpacked into a folder, for a GPU
# machine that has nvcc, CMake and ninja but none of these and no network. Carry .deps with
# the working tree (it is git-ignored); scripts/gpu-check.sh picks it up by itself.
#   scripts/prepare-gpu-deps.sh [DIR]     (default .deps; needs apt-get, run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.deps}"
pkgs=(libopenblas-openmp-dev libopenblas0-openmp libgfortran5 libgomp1 catch2 libcli11-dev
      nlohmann-json3-dev libstb-dev libstb0 zlib1g-dev)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apt-get update -qq
(cd "$tmp" && apt-get download "${pkgs[@]}" >/dev/null)
rm -rf "$dest"
mkdir -p "$dest"
for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dest"; done
# Static archives and documentation are not needed and would push the tree past what the
# device tool carries (64 MiB).
find "$dest" \( -name '*.a' -o -name 'liblapack*' \) -delete
rm -rf "$dest/usr/share/doc" "$dest/usr/share/man"
# Debian's alternatives links are absolute: point the generic names at the OpenMP build.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
lib="$dest/usr/lib/$arch"
if [[ -d "$lib/openblas-openmp" ]]; then
  for f in "$lib"/openblas-openmp/lib*.so*; do ln -sf "openblas-openmp/$(basename "$f")" "$lib/$(basename "$f")"; done
fi
du -sh "$dest"
echo "prepared $dest: carry it to the GPU machine (device tool: carry [\"$dest\"])"
