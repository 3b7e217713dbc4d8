#!/usr/bin/env bash
# The current PyTorch release from PyPI, as the second reference of bench/compare_pytorch.py
# (beside Debian's 1.13 at /usr/bin/python3), in its own virtual environment:
#   bench/install-pytorch-pypi.sh [DIR]        (default /opt/torch-pypi; then
#   /usr/bin/python3 bench/compare_pytorch.py --python /usr/bin/python3,DIR/bin/python)
# PyPI's torch wheel is built for CUDA and depends on about 3 GB of NVIDIA packages; the CPU
# benchmarks need none of their code, only what the wheel's libraries link against. So torch
# and torchvision are installed without dependencies, then their pure-Python dependencies, then
# the NVIDIA libraries the CUDA toolkit at /usr/local/cuda does not provide (cuFile,
# cuSPARSELt, NVSHMEM, and an NCCL as new as the wheel's). If `import torch` still fails (no
# toolkit on this machine), everything the wheel declares is installed.
set -euo pipefail
dir="${1:-/opt/torch-pypi}"
python="${PYTHON:-python3}"
[[ -x "$dir/bin/python" ]] || "$python" -m venv "$dir"
pip=("$dir/bin/pip" install -q --disable-pip-version-check)
"${pip[@]}" --no-deps torch torchvision
"${pip[@]}" -U filelock typing-extensions setuptools sympy networkx jinja2 fsspec numpy pillow
# The NVIDIA libraries the wheel links against, at the versions its metadata pins.
pins=$("$dir/bin/python" - <<'PY'
import importlib.metadata as m, re
want = ("nvidia-cusparselt", "nvidia-nvshmem", "nvidia-nccl")
for req in m.requires("torch") or []:
    name = re.split(r"[ ;=<>\[]", req, maxsplit=1)[0]
    if name.startswith(want):
        print(req.split(";")[0].replace(" ", ""))
PY
)
# shellcheck disable=SC2086
"${pip[@]}" --no-deps $pins nvidia-cufile
if ! "$dir/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  echo "install-pytorch-pypi: import torch failed with the minimal set; installing every dependency" >&2
  "${pip[@]}" torch torchvision
fi
"$dir/bin/python" -c "import torch, torchvision; print('PyTorch', torch.__version__, 'torchvision', torchvision.__version__, 'in $dir')"
