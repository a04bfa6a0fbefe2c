"""ResNet-20: He et al. 2016 ("Deep residual learning", Section 4.2), the CIFAR ResNet.

A 3x3 convolution of 16 channels, then three stages of 3 basic blocks (two 3x3 convolutions with
batch norm, ReLU after the sum) at 16, 32 and 64 channels and 32, 16, 8 pixels (the first block of
stages 2 and 3 has stride 2), global average pooling and a linear output: 6*3 + 2 = 20 layers.

Shortcuts where the shape changes: option B by default, a 1x1 stride-2 convolution with batch
norm, as in Frankle et al.'s open_lth (`cifar_resnet_20`), whose ResNet-20 the lottery-ticket
results (late rewinding, linear mode connectivity) were found on; every learned weight is then a
convolution or linear weight that pruning can reach. Option A (`shortcut=A`), He et al.'s own
choice for CIFAR, subsamples and zero-pads the channels and has no parameters.

Parameters at 10 classes: 272,474 with option B, 269,722 with option A (the paper's "0.27M").
Settings: ``channels`` (the first stage's width; the stages are c, 2c, 4c; 16 is the paper's) and
``shortcut`` (``A`` or ``B``), e.g. ``resnet20+channels=4`` for a tiny test network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.models.cifar import CifarNet, he_init, positive, rgb_fits
from robust_tickets.models.registry import MODELS, ModelSpec


@dataclass(frozen=True)
class ResNetParams:
    channels: int = 16  # the first stage's channels (stages: c, 2c, 4c)
    shortcut: str = "B"  # where the shape changes: "A" (zero-padding) or "B" (1x1 conv + BN)

    def __post_init__(self) -> None:
        positive("channels", self.channels)
        if self.shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be A or B, got {self.shortcut!r}")


class PadShortcut(nn.Module):
    """Option A: keep every `stride`-th pixel, append zero channels up to `out_channels`."""

    def __init__(self, out_channels: int, stride: int) -> None:
        super().__init__()
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - x.shape[1]))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU: [N, cin, H, W] ->
    [N, cout, H/stride, W/stride]."""

    def __init__(self, cin: int, cout: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            if shortcut == "B":
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )
            else:
                self.shortcut = PadShortcut(cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(CifarNet):
    """He et al.'s CIFAR ResNet with `blocks` basic blocks a stage: x [N, 3, H, W] in [0, 1]
    -> logits [N, classes]."""

    def __init__(self, blocks: int, channels: int, shortcut: str, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        layers: list[nn.Module] = []
        cin = channels
        for stage in range(3):
            cout = channels * 2**stage
            for i in range(blocks):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(BasicBlock(cin, cout, stride, shortcut))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.conv(self.normalize(x))))
        out = self.blocks(out)
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def _resnet20(input_shape: tuple[int, ...], classes: int, params: ResNetParams) -> nn.Module:
    return CifarResNet(3, params.channels, params.shortcut, classes)


MODELS.register("resnet20", aliases=("resnet-20",))(
    ModelSpec(
        build=_resnet20,
        init=he_init,
        fits=rgb_fits(8),
        params=ResNetParams,
    )
)
