"""PreAct ResNet-18: He et al. 2016b ("Identity mappings in deep residual networks"), the
CIFAR-10 network of Wong et al. 2020 (fast adversarial training) and Rice et al. 2020 (robust
overfitting).

A 3x3 convolution of 64 channels, then four stages of 2 pre-activation blocks (BN-ReLU-conv3x3,
BN-ReLU-conv3x3, identity added after) at 64, 128, 256 and 512 channels (stride 2 at the first
block of stages 2-4; there the shortcut is a 1x1 convolution of the pre-activated input), a final
BN-ReLU, global average pooling and a linear output.

Parameters at 10 classes: 11,172,170 ("11.2M"). Setting: ``channels`` (the first stage's width;
stages c, 2c, 4c, 8c; 64 is the paper's), e.g. ``preact-resnet18+channels=8``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.models.cifar import CifarNet, he_init, positive, rgb_fits
from robust_tickets.models.registry import MODELS, ModelSpec


@dataclass(frozen=True)
class PreActParams:
    channels: int = 64  # the first stage's channels (stages: c, 2c, 4c, 8c)

    def __post_init__(self) -> None:
        positive("channels", self.channels)


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3, plus the input (or, where the shape changes, a
    1x1 convolution of the pre-activated input): [N, cin, H, W] -> [N, cout, H/s, W/s].
    Also the WideResNet's block (wide_resnet.py)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut: nn.Conv2d | None = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


def preact_stages(cin: int, widths: list[int], blocks: int) -> tuple[nn.Sequential, int]:
    """`blocks` pre-activation blocks per width, stride 2 entering every stage but the first;
    returns the blocks and their output channels."""
    layers: list[nn.Module] = []
    for stage, cout in enumerate(widths):
        for i in range(blocks):
            layers.append(PreActBlock(cin, cout, 2 if stage > 0 and i == 0 else 1))
            cin = cout
    return nn.Sequential(*layers), cin


class PreActResNet(CifarNet):
    """x [N, 3, H, W] in [0, 1] -> logits [N, classes]."""

    def __init__(self, blocks: int, channels: int, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, 1, 1, bias=False)
        widths = [channels * 2**s for s in range(4)]
        self.blocks, out = preact_stages(channels, widths, blocks)
        self.bn = nn.BatchNorm2d(out)
        self.fc = nn.Linear(out, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.conv(self.normalize(x)))
        out = F.relu(self.bn(out))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def _preact18(input_shape: tuple[int, ...], classes: int, params: PreActParams) -> nn.Module:
    return PreActResNet(2, params.channels, classes)


MODELS.register("preact-resnet18", aliases=("preact_resnet18", "preactresnet18"))(
    ModelSpec(
        build=_preact18,
        init=he_init,
        fits=rgb_fits(8),
        params=PreActParams,
    )
)
