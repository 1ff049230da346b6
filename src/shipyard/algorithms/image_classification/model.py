"""The ResNet of AWS's image classification (MXNet's ``symbols/resnet.py``, v2 pre-activation) in torch.

MXNet picks the layout from the depth and the image height: the CIFAR-style depths 20, 32, 44, 56, 110 (6n+2)
give three stages of n basic units with 16, 32, 64 channels; 18 and 34 give four stages of basic units with
64..512 channels, 50, 101, 152, 200 four stages of bottleneck units with 256..2048 output channels. The stem is
one 3x3 convolution when the image is at most 32 pixels high (so a 32x32 image is not shrunk away), else a 7x7
stride-2 convolution, batch norm, ReLU and a 3x3 stride-2 max-pool. Each unit is BN-ReLU-conv (pre-activation),
a 1x1 projection on the shortcut where the shape changes, and the body ends in BN-ReLU, global average pooling
and one fully-connected layer (the logits).
"""

from __future__ import annotations

from typing import Any

from ..neural import import_torch

torch = import_torch()
nn = torch.nn
Module: Any = nn.Module  # torch is imported at run time (a clear error when missing), so typed loosely

UNITS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3],
         200: [3, 24, 36, 3]}


class Unit(Module):
    def __init__(self, cin: int, cout: int, stride: int, bottleneck: bool):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=2e-5, momentum=0.1)
        if bottleneck:
            mid = cout // 4
            self.conv1 = nn.Conv2d(cin, mid, 1, 1, 0, bias=False)
            self.bn2 = nn.BatchNorm2d(mid, eps=2e-5)
            self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(mid, eps=2e-5)
            self.conv3 = nn.Conv2d(mid, cout, 1, 1, 0, bias=False)
        else:
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout, eps=2e-5)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bottleneck = bottleneck
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if (cin != cout or stride != 1) else None
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        act = self.relu(self.bn1(x))
        short = x if self.shortcut is None else self.shortcut(act)
        out = self.conv1(act)
        out = self.conv2(self.relu(self.bn2(out)))
        if self.bottleneck:
            out = self.conv3(self.relu(self.bn3(out)))
        return out + short


def layout(num_layers: int, height: int) -> tuple[list[int], list[int], bool]:
    """(units per stage, channels [stem, stage1, ...], bottleneck) for a depth, as MXNet chooses them."""
    if num_layers in UNITS:
        units = UNITS[num_layers]
        if num_layers >= 50:
            return units, [64, 256, 512, 1024, 2048], True
        return units, [64, 64, 128, 256, 512], False
    if (num_layers - 2) % 6 == 0 and num_layers < 164:
        n = (num_layers - 2) // 6
        return [n, n, n], [16, 16, 32, 64], False
    if (num_layers - 2) % 9 == 0:
        n = (num_layers - 2) // 9
        return [n, n, n], [16, 64, 128, 256], True
    raise ValueError(f"no ResNet layout for num_layers={num_layers}")


class ResNet(Module):
    def __init__(self, num_layers: int, num_classes: int, image_shape: tuple[int, int, int]):
        super().__init__()
        channels, height, _ = image_shape
        units, filters, bottleneck = layout(num_layers, height)
        self.bn_data = nn.BatchNorm2d(channels, eps=2e-5, affine=False)
        if height <= 32:
            self.stem = nn.Sequential(nn.Conv2d(channels, filters[0], 3, 1, 1, bias=False))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(channels, filters[0], 7, 2, 3, bias=False), nn.BatchNorm2d(filters[0], eps=2e-5),
                nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        stages: list[Any] = []
        cin = filters[0]
        for i, n in enumerate(units):
            for j in range(n):
                stride = 1 if (i == 0 or j > 0) else 2
                stages.append(Unit(cin, filters[i + 1], stride, bottleneck))
                cin = filters[i + 1]
        self.body = nn.Sequential(*stages)
        self.bn_out = nn.BatchNorm2d(cin, eps=2e-5)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.body(self.stem(self.bn_data(x)))
        x = torch.relu(self.bn_out(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def build(num_layers: int, num_classes: int, image_shape: tuple[int, int, int]) -> Any:
    return ResNet(num_layers, num_classes, image_shape)
