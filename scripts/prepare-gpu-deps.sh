#!/usr/bin/env bash
# Prepares what scripts/gpu-check.sh needs to travel with the working tree to a GPU machine that
# has nvcc, CMake, ninja, a compiler and python3 but none of minidl's Debian packages and no
# network (the device tool's H200: its own image, no apt):
#   .deps/                 the build's Debian packages (Catch2, CLI11, nlohmann-json, stb's
#                          headers, zlib's headers and library), downloaded with apt-get download
#                          and unpacked with dpkg -x; gpu-check.sh finds them through
#                          CMAKE_PREFIX_PATH. OpenBLAS and oneDNN stay behind: without them the
#                          build uses minidl's own blocked GEMM and its other CPU conv paths.
#   .data/fashion-mnist/   Debian's dataset-fashion-mnist files (gzip'd IDX, 30 MB), for the
#                          one-epoch training stage.
# Both folders are ignored by git; name them in the call's carry: [".deps", ".data/fashion-mnist"].
# Run it in the checkout the device tool sends (the one the session was started in).
#   scripts/prepare-gpu-deps.sh [--no-data]          (needs apt-get; run as root)
set -euo pipefail
cd "$(dirname "$0")/.."
with_data=1
[[ "${1:-}" == --no-data ]] && with_data=0
dest=.deps
pkgs=(catch2 libcli11-dev nlohmann-json3-dev libstb-dev zlib1g-dev zlib1g)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
apt-get update -qq
(cd "$tmp" && apt-get download "${pkgs[@]}" >/dev/null)
rm -rf "$dest"
mkdir -p "$dest"
: >"$dest/MANIFEST"
for deb in "$tmp"/*.deb; do
  dpkg -x "$deb" "$dest"
  dpkg-deb -f "$deb" Package Version | paste -sd' ' | sed 's/^Package: //; s/ Version: /=/' >>"$dest/MANIFEST"
done
# Documentation and pkg-config files are not needed there (the static archives are: Catch2's
# CMake package names libCatch2WithMain.a).
find "$dest" -name '*.pc' -delete
rm -rf "$dest/usr/share/doc" "$dest/usr/share/man" "$dest/usr/share/lintian"
# Debian's links are absolute (libz.so -> /lib/<arch>/libz.so.1.2.13): point each at its target
# inside .deps, relatively, so the folder works wherever it lands.
while IFS= read -r link; do
  target=$(readlink "$link")
  [[ "$target" == /* ]] || continue
  if [[ -e "$dest$target" ]]; then
    ln -sfn "$(realpath --relative-to="$(dirname "$link")" "$dest$target")" "$link"
  else
    echo "prepare-gpu-deps: $link -> $target points outside the packages; removed" >&2
    rm -f "$link"
  fi
done < <(find "$dest" -type l)
find "$dest" -xtype l -delete  # links into packages left behind (libstb.so -> libstb.so.0)
find "$dest" -type d -empty -delete
echo "prepared $dest ($(du -sh "$dest" | cut -f1)): $(paste -sd' ' "$dest/MANIFEST")"

if ((with_data)); then
  src=/usr/share/datasets/fashion-mnist
  if ! ls "$src"/train-images-idx3-ubyte.gz >/dev/null 2>&1; then
    (cd "$tmp" && apt-get download dataset-fashion-mnist >/dev/null && dpkg -x dataset-fashion-mnist_*.deb root)
    src=$tmp/root/usr/share/datasets/fashion-mnist
  fi
  mkdir -p .data/fashion-mnist
  cp "$src"/*-idx?-ubyte.gz .data/fashion-mnist/
  echo "prepared .data/fashion-mnist ($(du -sh .data/fashion-mnist | cut -f1))"
fi
echo "carry: [\".deps\"$( ((with_data)) && echo ', ".data/fashion-mnist"')] (device tool); total $(du -shc .deps $( ((with_data)) && echo .data/fashion-mnist) | tail -1 | cut -f1)"
