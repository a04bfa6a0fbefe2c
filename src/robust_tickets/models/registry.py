"""The model registry: a name -> how to build the network and how to initialise it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from robust_tickets.registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[tuple[int, ...], int], nn.Module]  # (input shape C,H,W; classes) -> model
    init: Callable[[nn.Module, torch.Generator], None]  # in-place init from a seeded generator


MODELS: Registry[ModelSpec] = Registry("model")


def create_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """Build and initialise model `name` deterministically from `seed`."""
    spec = MODELS.get(name)
    model = spec.build(input_shape, num_classes)
    spec.init(model, torch.Generator().manual_seed(seed))
    return model


def reinitialise(name: str, model: nn.Module, seed: int) -> None:
    """Fresh initial values for every weight of `model` (masks untouched)."""
    MODELS.get(name).init(model, torch.Generator().manual_seed(seed))
