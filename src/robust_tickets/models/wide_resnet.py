"""WideResNet-d-k: Zagoruyko & Komodakis 2016 ("Wide residual networks"), as used for CIFAR-10
adversarial training (Madry et al.'s WRN-34-10, Rice et al. / RobustBench's WRN-28-10).

A 3x3 convolution of 16 channels, then three groups of n = (d - 4) / 6 pre-activation blocks
(BN-ReLU-conv3x3, BN-ReLU-conv3x3; preact_resnet.PreActBlock) at 16k, 32k and 64k channels
(stride 2 entering groups 2 and 3; a 1x1 convolution shortcut where the shape changes), a final
BN-ReLU, global average pooling and a linear output. No dropout (the adversarial-training
literature trains without it).

Settings: ``depth`` d (28 by default; 6n + 4) and ``width`` k (10 by default): ``wrn`` is
WRN-28-10, ``wrn+depth=34`` Madry's WRN-34-10, ``wrn+depth=10+width=1`` a tiny test network.
Parameters at 10 classes: WRN-28-10 36,479,194 ("36.5M"); WRN-34-10 46,160,474.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.models.cifar import CifarNet, he_init, positive, rgb_fits
from robust_tickets.models.preact_resnet import preact_stages
from robust_tickets.models.registry import MODELS, ModelSpec


@dataclass(frozen=True)
class WideResNetParams:
    depth: int = 28  # 6n + 4 layers
    width: int = 10  # k: the groups have 16k, 32k, 64k channels

    def __post_init__(self) -> None:
        positive("width", self.width)
        if self.depth < 10 or (self.depth - 4) % 6:
            raise ValueError(
                f"depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 34, ...), got {self.depth}"
            )


class WideResNet(CifarNet):
    """x [N, 3, H, W] in [0, 1] -> logits [N, classes]."""

    def __init__(self, depth: int, width: int, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        widths = [16 * width, 32 * width, 64 * width]
        self.blocks, out = preact_stages(16, widths, (depth - 4) // 6)
        self.bn = nn.BatchNorm2d(out)
        self.fc = nn.Linear(out, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.conv(self.normalize(x)))
        out = F.relu(self.bn(out))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def _wrn(input_shape: tuple[int, ...], classes: int, params: WideResNetParams) -> nn.Module:
    return WideResNet(params.depth, params.width, classes)


MODELS.register("wrn", aliases=("wide-resnet", "wideresnet"))(
    ModelSpec(
        build=_wrn,
        init=he_init,
        fits=rgb_fits(4),
        params=WideResNetParams,
    )
)
