"""VGG-16 with batch norm, the CIFAR variant: Simonyan & Zisserman 2015's configuration D with
batch norm after every convolution (Ioffe & Szegedy 2015), as used in CIFAR-10 pruning work
(Frankle et al.'s open_lth `cifar_vgg_16`, which ends with 2x2 average pooling where this one has
the fifth max pooling and keeps the convolutions' biases).

Thirteen 3x3 convolutions (64, 64, pool, 128, 128, pool, 256 x3, pool, 512 x3, pool, 512 x3,
pool), each followed by batch norm and ReLU, then global average pooling (1x1 after five pools of
a 32x32 image) and **one** linear layer 512 -> classes: ImageNet's three fully connected layers
(4096 wide) were made for 7x7 ImageNet features; the CIFAR variants (open_lth's among them)
keep one. Convolutions have no bias (batch norm follows).

Parameters at 10 classes: 14,724,042 ("14.7M"). Setting: ``channels`` (the first block's width;
the configuration is scaled by channels/64), e.g. ``vgg16-bn+channels=8``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.models.cifar import CifarNet, he_init, positive, rgb_fits
from robust_tickets.models.registry import MODELS, ModelSpec

# configuration D in units of the first block's width; 0 = 2x2 max pooling
_VGG16 = (1, 1, 0, 2, 2, 0, 4, 4, 4, 0, 8, 8, 8, 0, 8, 8, 8, 0)


@dataclass(frozen=True)
class VGGParams:
    channels: int = 64  # the first block's channels (the widest: 8x)

    def __post_init__(self) -> None:
        positive("channels", self.channels)


class VGG(CifarNet):
    """x [N, 3, H, W] in [0, 1] -> logits [N, classes]."""

    def __init__(self, plan: tuple[int, ...], channels: int, classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for unit in plan:
            if unit == 0:
                layers.append(nn.MaxPool2d(2))
                continue
            cout = unit * channels
            layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(self.normalize(x))
        return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))


def _vgg16(input_shape: tuple[int, ...], classes: int, params: VGGParams) -> nn.Module:
    return VGG(_VGG16, params.channels, classes)


MODELS.register("vgg16-bn", aliases=("vgg16", "vgg16_bn", "vgg-16"))(
    ModelSpec(
        build=_vgg16,
        init=he_init,
        fits=rgb_fits(32),
        params=VGGParams,
    )
)
