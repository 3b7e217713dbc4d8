#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking minidl need, on a fresh
# Debian 12 machine. Idempotent; run as root (or with sudo available).
#   scripts/install-deps.sh            what building and running need
#   scripts/install-deps.sh --test     also PyTorch (the test that loads minidl's checkpoints in
#                                      PyTorch), Fashion-MNIST (the IDX reader's real-file test),
#                                      OpenCV and ONNX for the face-detection and ONNX-export tests,
#                                      and their photos and onnxruntime (scripts/fetch-test-assets.sh)
#   scripts/install-deps.sh --bench    the same, for bench/ (PyTorch is the reference)
#   scripts/install-deps.sh --fuzz     also clang with libFuzzer and the sanitizer runtimes (scripts/fuzz.sh)
#   scripts/install-deps.sh --all      all of the above
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  ccache                   # compiler cache: CI's rebuilds of unchanged code (cmake/MinidlCcache.cmake)
  libopenblas-openmp-dev   # CPU GEMM, OpenMP build: one thread pool with our own loops
  libdnnl-dev              # oneDNN headers: the fast CPU convolutions (loaded at run time; optional)
  catch2                   # test framework (v2)
  libcli11-dev             # command-line parsing in the apps
  nlohmann-json3-dev       # safetensors headers, config and metrics files
  libstb-dev               # stb_image / stb_image_write
  zlib1g-dev               # gzip'd IDX files
  openmpi-bin libopenmpi-dev  # data-parallel training: mpirun and MPI (docs/distributed.md)
  python3                  # small scripts in tests/ and bench/
)
case "${1:-}" in
  --test|--bench|--all) packages+=(python3-torch python3-torchvision python3-numpy dataset-fashion-mnist) ;;
esac
case "${1:-}" in
  # OpenCV's cascades and its Python module (the reference the face detector is checked against,
  # and a second ONNX runtime), the ONNX checker, and venv and pip for onnxruntime.
  --test|--all) packages+=(opencv-data python3-opencv python3-onnx python3-venv python3-pip) ;;
esac
if [[ "${1:-}" == "--fuzz" || "${1:-}" == "--all" ]]; then
  # clang 14 is Debian 12's; libFuzzer and the ASan/UBSan runtimes are in libclang-rt-14-dev,
  # and clang's OpenMP (-fopenmp) in libomp-14-dev.
  packages+=(clang libclang-rt-14-dev libomp-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
if ((${#missing[@]} == 0)); then
  echo "install-deps: every package is already installed"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
case "${1:-}" in
  --test|--all) "$(dirname "$0")/fetch-test-assets.sh" ;;
esac
