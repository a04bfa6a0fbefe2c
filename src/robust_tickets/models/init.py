"""Initialisations shared by the registered models (seeded, in place)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def glorot(normal: bool) -> Callable[[nn.Module, torch.Generator], None]:
    """Glorot (Xavier) weights for every linear and convolutional layer and zero biases:
    uniform (the paper's MLP) or Gaussian (Frankle & Carbin's convolutional networks)."""
    fill = nn.init.xavier_normal_ if normal else nn.init.xavier_uniform_

    def init(model: nn.Module, generator: torch.Generator) -> None:
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.Linear | nn.Conv2d):
                    fill(module.weight, generator=generator)
                    if module.bias is not None:
                        module.bias.zero_()

    return init
