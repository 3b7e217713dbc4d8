#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking minidl need, on a fresh
# Debian 12 machine. Idempotent; run as root (or with sudo available).
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --bench    also PyTorch (the CPU reference for bench/) and Fashion-MNIST
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libopenblas-openmp-dev   # CPU GEMM, OpenMP build: one thread pool with our own loops
  catch2                   # test framework (v2)
  libcli11-dev             # command-line parsing in the apps
  nlohmann-json3-dev       # safetensors headers, config and metrics files
  libstb-dev               # stb_image / stb_image_write
  zlib1g-dev               # gzip'd IDX files
  python3                  # small scripts in tests/ and bench/
)
if [[ "${1:-}" == "--bench" || "${1:-}" == "--all" ]]; then
  packages+=(python3-torch python3-torchvision python3-numpy dataset-fashion-mnist clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: everything is already installed"
  exit 0
fi
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
