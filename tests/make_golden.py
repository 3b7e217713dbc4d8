#!/usr/bin/python3
"""Writes tests/data/golden_resnet18_w4.safetensors: PyTorch's own numbers for the FER model's
structure, which test_golden.cpp checks minidl against (running the tests never needs PyTorch;
where PyTorch is installed, the suite also reruns this script into a scratch folder and checks
that it reproduces the committed file).

The model is torchvision's resnet18 with conv1 = Conv2d(1, w, 7, 2, 3, bias=False) and
fc = Linear(8w, 7), built from torchvision's own BasicBlock at a narrow width w = 4 so the
committed file stays small. torchvision's ResNet hard-codes width 64, so the stages are
assembled here the way torchvision's _make_layer does, with torchvision's initialisation.

Contents (float32 unless noted):
  model.<name>         the initial state_dict (PyTorch's names)
  input [4,1,64,64], target [4] (int64)
  train.logits, train.loss, train.grad.<param>, train.state.<buffer>   one batch in train mode
  eval.logits                                                          the initial model in eval mode
  sgd.losses [3]       losses of 3 SGD steps (lr 0.05, momentum 0.9, weight decay 5e-4), train mode
  sgd.eval_logits      the model after those steps, in eval mode (exercises running statistics)
  big.input [32,1,32,32], big.target [32]: a batch large enough that minidl's CPU convolution
  takes every path it has (oneDNN, im2col + GEMM, and the tap GEMMs of the small late maps)
  big.logits, big.loss, big.grad.<param>   that batch in train mode, from the initial model
  ce.logits [6,7], ce.target [6], ce.weight [7]: cross-entropy with class weights and label
  smoothing 0.1: ce.loss, ce.grad (d loss / d logits)
  adamw.losses [3], adamw.eval_logits: 3 AdamW steps (lr 1e-3, betas (0.9, 0.999), eps 1e-8,
  weight decay 0.01) of the initial model on input/target with that weighted, smoothed loss
  conv.input [2,3,9,9], conv.weight [5,3,3,3], conv.bias [5], conv.grad_output [2,5,5,5]: a
  convolution with a bias (stride 2, padding 1): conv.output, conv.grad.input, .weight, .bias
It also writes tests/data/golden_resnet18_w4_state.safetensors: the bare initial state_dict,
a checkpoint written by PyTorch for minidl to load.

Usage: python3 tests/make_golden.py [--out DIR]   (default DIR: tests/data; needs torch and
torchvision: Debian's python3-torch python3-torchvision, for the system /usr/bin/python3)
"""
import argparse
import os
import sys

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, conv1x1

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_safetensors  # noqa: E402


def make_layer(inplanes, planes, stride):
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
    return nn.Sequential(BasicBlock(inplanes, planes, stride, downsample), BasicBlock(planes, planes))


class NarrowResNet18(nn.Module):
    """torchvision.models.resnet.ResNet(BasicBlock, [2, 2, 2, 2]) with a base width option."""

    def __init__(self, in_channels=1, num_classes=7, width=64):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(in_channels, w, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = make_layer(w, w, 1)
        self.layer2 = make_layer(w, 2 * w, 2)
        self.layer3 = make_layer(2 * w, 4 * w, 2)
        self.layer4 = make_layer(4 * w, 8 * w, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * w, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"),
                        help="folder to write the two files into (default: tests/data)")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(1)
    width = 4
    model = NarrowResNet18(1, 7, width)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(4, 1, 64, 64)
    target = torch.tensor([0, 3, 6, 1], dtype=torch.int64)
    out = {"model." + k: v for k, v in initial.items()}
    out["input"] = x
    out["target"] = target

    model.train()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, target)
    loss.backward()
    out["train.logits"] = logits.detach()
    out["train.loss"] = loss.detach()
    for name, p in model.named_parameters():
        out["train.grad." + name] = p.grad.detach().clone()
    for name, b in model.named_buffers():
        out["train.state." + name] = b.clone()

    model.load_state_dict(initial)
    model.eval()
    with torch.no_grad():
        out["eval.logits"] = model(x)

    def three_steps(prefix, opt, **loss_args):
        # Three steps of opt from the model's state in train mode, then its logits in eval mode
        # (test_golden.cpp's check_three_steps).
        model.train()
        losses = []
        for _ in range(3):
            opt.zero_grad()
            step_loss = nn.functional.cross_entropy(model(x), target, **loss_args)
            step_loss.backward()
            opt.step()
            losses.append(step_loss.item())
        out[prefix + ".losses"] = torch.tensor(losses, dtype=torch.float32)
        model.eval()
        with torch.no_grad():
            out[prefix + ".eval_logits"] = model(x)
        return losses

    model.load_state_dict(initial)
    losses = three_steps("sgd", torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4))

    # The cases below were added later; they draw their random numbers after all of the above,
    # so the tensors above are the same as before they existed.

    # A batch of 32 at 32x32: every CPU convolution path of minidl (see the docstring).
    model.load_state_dict(initial)
    model.train()
    model.zero_grad(set_to_none=True)
    big_x = torch.rand(32, 1, 32, 32)
    big_target = torch.randint(0, 7, (32,), dtype=torch.int64)
    big_logits = model(big_x)
    big_loss = nn.functional.cross_entropy(big_logits, big_target)
    big_loss.backward()
    out["big.input"] = big_x
    out["big.target"] = big_target
    out["big.logits"] = big_logits.detach()
    out["big.loss"] = big_loss.detach()
    for name, p in model.named_parameters():
        out["big.grad." + name] = p.grad.detach().clone()

    # Cross-entropy with class weights and label smoothing, alone.
    ce_logits = (3 * torch.randn(6, 7)).requires_grad_()
    ce_target = torch.tensor([0, 6, 3, 3, 1, 5], dtype=torch.int64)
    ce_weight = torch.rand(7) + 0.25
    ce_loss = nn.functional.cross_entropy(ce_logits, ce_target, weight=ce_weight, label_smoothing=0.1)
    ce_loss.backward()
    out["ce.logits"] = ce_logits.detach()
    out["ce.target"] = ce_target
    out["ce.weight"] = ce_weight
    out["ce.loss"] = ce_loss.detach()
    out["ce.grad"] = ce_logits.grad.detach()

    # AdamW on the model with that loss.
    model.load_state_dict(initial)
    adamw = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    class_weight = torch.tensor([1.0, 3.0, 1.0, 0.5, 1.0, 1.5, 0.8])
    out["adamw.class_weight"] = class_weight
    adamw_losses = three_steps("adamw", adamw, weight=class_weight, label_smoothing=0.1)

    # A convolution with a bias (the FER model has none).
    conv = nn.Conv2d(3, 5, kernel_size=3, stride=2, padding=1, bias=True)
    conv_x = torch.randn(2, 3, 9, 9, requires_grad=True)
    conv_y = conv(conv_x)
    conv_g = torch.randn_like(conv_y)
    conv_y.backward(conv_g)
    out["conv.input"] = conv_x.detach()
    out["conv.weight"] = conv.weight.detach()
    out["conv.bias"] = conv.bias.detach()
    out["conv.grad_output"] = conv_g
    out["conv.output"] = conv_y.detach()
    out["conv.grad.input"] = conv_x.grad.detach()
    out["conv.grad.weight"] = conv.weight.grad.detach()
    out["conv.grad.bias"] = conv.bias.grad.detach()

    os.makedirs(args.out, exist_ok=True)
    meta = {"generator": "tests/make_golden.py", "torch": torch.__version__, "width": str(width)}
    torch_safetensors.save(os.path.join(args.out, "golden_resnet18_w4.safetensors"), out, meta)
    torch_safetensors.save(os.path.join(args.out, "golden_resnet18_w4_state.safetensors"), initial,
                           {"written_by": "PyTorch " + torch.__version__})
    print("train loss %.6f, sgd losses %s, big-batch loss %.6f, adamw losses %s" % (
        loss.item(), ", ".join("%.6f" % l for l in losses), big_loss.item(),
        ", ".join("%.6f" % l for l in adamw_losses)))


if __name__ == "__main__":
    main()
