#!/usr/bin/env bash
# What the face-detection and ONNX tests need beyond Debian packages, fetched once per machine
# into $MINIDL_TEST_ASSETS (default /opt/minidl-test); called by scripts/install-deps.sh --test.
#   photos/  real photos nobody here made, unpacked from their Debian packages (never committed):
#            grace_hopper_512x512.jpg (facedetect's examples), astronaut.png (python3-skimage's data);
#            `apt-get download` + `dpkg-deb` take the files without installing the packages.
#   venv/    a Python venv over /usr/bin/python3 (it sees Debian's cv2, onnx and numpy) with
#            onnxruntime from PyPI, where the machine reaches PyPI. Without it the ONNX test runs
#            OpenCV's DNN module only.
# Idempotent; what cannot be had is reported and left out (the tests then say they skipped why).
set -uo pipefail
root="${MINIDL_TEST_ASSETS:-/opt/minidl-test}"
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
$SUDO mkdir -p "$root/photos"

# ----- photos -----
have_photos() { [[ -s "$root/photos/grace_hopper_512x512.jpg" && -s "$root/photos/astronaut.png" ]]; }
if have_photos; then
  echo "fetch-test-assets: photos already in $root/photos"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 755 "$work"
  fetch() {  # apt-get download, refreshing the package lists once if they are stale
    (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$@" >/dev/null 2>&1) ||
      { $SUDO apt-get update -qq && (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "$@" >/dev/null); }
  }
  if fetch facedetect python3-skimage; then
    dpkg-deb --fsys-tarfile "$work"/facedetect_*.deb |
      tar -x -O ./usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg >"$work/grace_hopper_512x512.jpg"
    dpkg-deb --fsys-tarfile "$work"/python3-skimage_*.deb |
      tar -x -O ./usr/lib/python3/dist-packages/skimage/data/astronaut.png >"$work/astronaut.png"
    $SUDO install -m 644 "$work/grace_hopper_512x512.jpg" "$work/astronaut.png" "$root/photos/"
  fi
  if have_photos; then
    echo "fetch-test-assets: photos in $root/photos"
  else
    echo "fetch-test-assets: could not fetch the test photos (facedetect, python3-skimage); their tests will skip" >&2
  fi
fi

# ----- onnxruntime -----
py="$root/venv/bin/python"
if [[ -x "$py" ]] && "$py" -c 'import onnxruntime' 2>/dev/null; then
  echo "fetch-test-assets: onnxruntime already in $root/venv"
else
  # The venv borrows Debian's pip (--without-pip is seconds faster than bootstrapping one).
  # --no-deps: numpy comes from Debian; onnxruntime's other requirements serve its tools, not
  # inference, and a newer protobuf would shadow the one Debian's python3-onnx is built for.
  $SUDO /usr/bin/python3 -m venv --without-pip --system-site-packages "$root/venv" &&
    $SUDO timeout 300 /usr/bin/python3 -m pip --python "$py" install -q --disable-pip-version-check --no-deps onnxruntime &&
    "$py" -c 'import onnxruntime' 2>/dev/null &&
    echo "fetch-test-assets: onnxruntime $("$py" -c 'import onnxruntime; print(onnxruntime.__version__)') in $root/venv" ||
    echo "fetch-test-assets: no onnxruntime (PyPI not reachable?); the ONNX test will use OpenCV's DNN module only" >&2
fi
exit 0
