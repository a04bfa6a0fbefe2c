"""Convolutional networks of the lottery-ticket literature (Frankle & Carbin 2019, Figure 2).

- `lenet5`: 5x5 convolutions of 6 and 16 channels, each followed by 2x2 max pooling (the first
  padded so a 28x28 image keeps its size), then fully connected 120-84-classes;
- `conv2`, `conv4`, `conv6`: 3x3 convolutions (padding 1) 64-64-pool, + 128-128-pool (Conv-4),
  + 256-256-pool (Conv-6), then fully connected 256-256-classes.

ReLU everywhere, biases, Gaussian Glorot weights and zero biases as in Frankle & Carbin. Inputs
stay in [0, 1]: eps means the same for every model.
"""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.models.init import glorot
from robust_tickets.models.registry import MODELS, ModelSpec
from robust_tickets.models.ticket import TicketModel


class ConvNet(TicketModel):
    """`features` (convolutions and pooling), then flatten, then `classifier` (linear layers)."""

    def __init__(self, features: list[nn.Module], flat: int, fc: list[int], classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(*features)
        sizes = [flat, *fc, classes]
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.classifier = nn.Sequential(*layers)
        # Default (contiguous) memory format: channels-last made the whole Conv-2 PGD training
        # step slower on CPU (benchmarks/results/2026-12-02-vm-conv2-cpu-channels-last.json).
        # Channels-last convolutions are the fast ones on CPU (oneDNN) and GPU (measured in
        # benchmarks/conv.py); the layout is internal: saved tensors are made contiguous.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


def _conv_stack(channels: int, widths: list[int]) -> list[nn.Module]:
    """3x3 convolutions in pairs, each pair followed by 2x2 max pooling."""
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
        channels = width
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
    return layers


def _conv_fits(pools: int):
    def fits(shape: tuple[int, ...]) -> str | None:
        side = 2**pools
        if len(shape) != 3 or shape[1] < side or shape[2] < side:
            return f"needs images of at least {side}x{side} pixels"
        return None

    return fits


def _conv(widths: list[int]):
    def build(input_shape: tuple[int, ...], classes: int) -> nn.Module:
        channels, height, width = input_shape
        shrink = 2 ** (len(widths) // 2)
        flat = widths[-1] * (height // shrink) * (width // shrink)
        return ConvNet(_conv_stack(channels, widths), flat, [256, 256], classes)

    return build


def _lenet5(input_shape: tuple[int, ...], classes: int) -> nn.Module:
    channels, height, width = input_shape
    features = [
        nn.Conv2d(channels, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
    ]
    flat = 16 * ((height // 2 - 4) // 2) * ((width // 2 - 4) // 2)
    return ConvNet(features, flat, [120, 84], classes)


def _lenet5_fits(shape: tuple[int, ...]) -> str | None:
    if len(shape) != 3 or shape[1] < 12 or shape[2] < 12:
        return "needs images of at least 12x12 pixels"
    return None


MODELS.register("lenet5", aliases=("lenet-5",))(
    ModelSpec(build=_lenet5, init=glorot(normal=True), fits=_lenet5_fits)
)


def _conv_spec(widths: list[int]) -> ModelSpec:
    """Conv-2/4/6: 3x3 convolutions of `widths` in pooled pairs, then 256-256-classes."""
    return ModelSpec(_conv(widths), glorot(normal=True), _conv_fits(len(widths) // 2))


# One call per name, each a string literal: `--help` reads the names from this source
# (robust_tickets.scan), not from a loop it would have to run.
MODELS.register("conv2", aliases=("conv-2",))(_conv_spec([64, 64]))
MODELS.register("conv4", aliases=("conv-4",))(_conv_spec([64, 64, 128, 128]))
MODELS.register("conv6", aliases=("conv-6",))(_conv_spec([64, 64, 128, 128, 256, 256]))
