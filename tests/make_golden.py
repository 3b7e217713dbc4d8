#!/usr/bin/python3
"""Writes tests/data/golden_resnet18_w4.safetensors: PyTorch's own numbers for the FER model's
structure, which test_golden.cpp checks minidl against (running the tests never needs PyTorch).

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
It also writes tests/data/golden_resnet18_w4_state.safetensors: the bare initial state_dict,
a checkpoint written by PyTorch for minidl to load.

Usage: /usr/bin/python3 tests/make_golden.py   (Debian: apt-get install python3-torch python3-torchvision)
"""
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

    model.load_state_dict(initial)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        step_loss = nn.functional.cross_entropy(model(x), target)
        step_loss.backward()
        opt.step()
        losses.append(step_loss.item())
    out["sgd.losses"] = torch.tensor(losses, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        out["sgd.eval_logits"] = model(x)

    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    meta = {"generator": "tests/make_golden.py", "torch": torch.__version__, "width": str(width)}
    torch_safetensors.save(os.path.join(here, "golden_resnet18_w4.safetensors"), out, meta)
    torch_safetensors.save(os.path.join(here, "golden_resnet18_w4_state.safetensors"), initial,
                           {"written_by": "PyTorch " + torch.__version__})
    print("train loss %.6f, sgd losses %s" % (loss.item(), ", ".join("%.6f" % l for l in losses)))


if __name__ == "__main__":
    main()
