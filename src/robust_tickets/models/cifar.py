"""What the CIFAR architectures (resnet.py, preact_resnet.py, vgg.py, wide_resnet.py) share.

- **Normalisation inside the model.** The first operation of `forward` is a `Normalize` layer
  holding the per-channel mean and standard deviation as buffers, so every attack, evaluation and
  export sees inputs in [0, 1] and eps means the same for every model (normalising in the data
  pipeline while attacking in pixel space is the most common evaluation bug in the field).
- **CIFAR-10 statistics** computed here from the whole CIFAR-10 training set (all 50,000 images,
  the registered ``train-images-idx4-ubyte``, SHA-256 1086b65f...), pixels scaled to [0, 1], over
  every pixel of every image (population standard deviation):
  mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616). The often-copied std
  (0.2023, 0.1994, 0.2010) is the mean of per-image standard deviations, not the dataset's.
- **Initialisation** (`he_init`): He et al. 2015 normal (fan-out, ReLU gain) for convolutions,
  as torchvision's ResNets and the WideResNet authors' code do; uniform(+-1/sqrt(fan_in)) for the
  linear output (PyTorch's default, drawn from the seeded generator); zero biases; batch norm
  weight 1, bias 0, fresh running statistics.
- **Pruning.** Prunable are the convolution and linear weights (`ticket.default_prunable_names`:
  batch-norm parameters, biases and the normalisation buffers never are); the output layer is the
  final linear ``fc.weight``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from robust_tickets.models.ticket import TicketModel

# Per-channel statistics of the CIFAR-10 training set (see the module docstring for the source).
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel; x [N, C, H, W] in [0, 1]. The statistics are buffers, so
    they travel with the model's state (a ticket on disk holds them)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class CifarNet(TicketModel):
    """Base of the CIFAR architectures: `normalize` first, a final linear `fc` as the output."""

    def __init__(self) -> None:
        super().__init__()
        self.normalize = Normalize(CIFAR10_MEAN, CIFAR10_STD)

    def output_name(self) -> str:
        return "fc.weight"


def rgb_fits(min_side: int):
    """A `fits` check: 3-channel images of at least `min_side` pixels a side."""

    def fits(shape: tuple[int, ...]) -> str | None:
        if len(shape) != 3 or shape[0] != 3:
            return "needs RGB images (3 channels; it normalises by CIFAR-10's statistics)"
        if shape[1] < min_side or shape[2] < min_side:
            return f"needs images of at least {min_side}x{min_side} pixels"
        return None

    return fits


@torch.no_grad()
def he_init(model: nn.Module, generator: torch.Generator) -> None:
    """He-normal (fan-out) convolutions, uniform(+-1/sqrt(fan_in)) linear layers, zero biases,
    in module order from `generator` (batch norm is reset by `registry.reinitialise`)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(
                module.weight, mode="fan_out", nonlinearity="relu", generator=generator
            )
        elif isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.in_features)
            nn.init.uniform_(module.weight, -bound, bound, generator=generator)
        else:
            continue
        if module.bias is not None:
            module.bias.zero_()


def positive(name: str, value: int) -> None:
    """A Params check: `value` is a positive integer."""
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
