#!/usr/bin/python3
"""Loads a checkpoint written by minidl into PyTorch (torchvision's BasicBlock ResNet-18 with the
FER model's stem and head, at the checkpoint's width) with load_state_dict(strict=True), runs the
input stored beside it in eval mode and compares the logits with minidl's.

Usage: check_torch_interop.py CHECKPOINT IO_FILE     (IO_FILE holds "input" and "logits")
Exit 0 when the logits agree within 1e-4 (normwise relative), 1 otherwise.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_safetensors  # noqa: E402
from make_golden import NarrowResNet18  # noqa: E402


def main(checkpoint, io_file):
    state, meta = torch_safetensors.load(checkpoint)
    width = state["conv1.weight"].shape[0]
    classes = state["fc.bias"].shape[0]
    model = NarrowResNet18(state["conv1.weight"].shape[1], classes, width)
    model.load_state_dict(state, strict=True)
    model.eval()
    io, _ = torch_safetensors.load(io_file)
    with torch.no_grad():
        logits = model(io["input"])
    err = ((logits - io["logits"]).abs().max() / io["logits"].abs().max().clamp_min(1e-12)).item()
    print("PyTorch %s loaded %s (width %d, %d classes, %d metadata keys): logits relative error %.3g"
          % (torch.__version__, os.path.basename(checkpoint), width, classes, len(meta), err))
    return 0 if err <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
