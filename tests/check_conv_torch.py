#!/usr/bin/python3
"""Checks minidl's conv2d (groups, dilation) against PyTorch's torch.nn.functional.conv2d.

Usage: check_conv_torch.py FILE        (a safetensors file written by tests/core/test_conv_torch.cpp)

For each case NAME in the file's metadata ("cases": names separated by commas; "NAME.options":
stride_h,stride_w,pad_h,pad_w,dilation_h,dilation_w,groups) the file holds minidl's float64
inputs NAME.x, NAME.w, NAME.b, the upstream gradient NAME.dy, and minidl's results NAME.y,
NAME.dx, NAME.dw, NAME.db. PyTorch recomputes the forward and the three gradients in float64;
prints one line per case and exits 0 when every result agrees within 1e-10 of its largest
magnitude, 1 otherwise.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_safetensors  # noqa: E402


def main(path):
    tensors, meta = torch_safetensors.load(path)
    ok = True
    for name in meta["cases"].split(","):
        sh, sw, ph, pw, dh, dw, groups = (int(v) for v in meta[name + ".options"].split(","))
        x = tensors[name + ".x"].clone().requires_grad_()
        w = tensors[name + ".w"].clone().requires_grad_()
        b = tensors[name + ".b"].clone().requires_grad_()
        y = F.conv2d(x, w, b, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)
        y.backward(tensors[name + ".dy"])
        worst = 0.0
        for what, torch_value in (("y", y), ("dx", x.grad), ("dw", w.grad), ("db", b.grad)):
            ours = tensors[name + "." + what]
            if ours.shape != torch_value.shape:
                print("%s: %s has shape %s, PyTorch's %s" % (name, what, list(ours.shape), list(torch_value.shape)))
                ok = False
                continue
            scale = torch_value.abs().max().clamp_min(1e-300)
            worst = max(worst, ((ours - torch_value.detach()).abs().max() / scale).item())
        print("%s: largest error %.3g of the largest magnitude (PyTorch %s)" % (name, worst, torch.__version__))
        ok = ok and worst <= 1e-10
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
