"""The model registry: a name -> how to build the network and how to initialise it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from robust_tickets.registry import Registry


def _any_shape(shape: tuple[int, ...]) -> str | None:
    return None


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[tuple[int, ...], int], nn.Module]  # (input shape C,H,W; classes) -> model
    init: Callable[[nn.Module, torch.Generator], None]  # in-place init from a seeded generator
    # None if the model takes images of this (C, H, W) shape, else why not
    fits: Callable[[tuple[int, ...]], str | None] = _any_shape
    kinds: tuple[str, ...] = ("fc", "output")  # the kinds of prunable layer it has


MODELS: Registry[ModelSpec] = Registry("model")


def create_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """Build and initialise model `name` deterministically from `seed`."""
    spec = MODELS.get(name)
    model = spec.build(input_shape, num_classes)
    spec.init(model, torch.Generator().manual_seed(seed))
    return model


def reinitialise(name: str, model: nn.Module, seed: int) -> None:
    """Fresh initial values for every parameter of `model`, as `create_model` gives them."""
    MODELS.get(name).init(model, torch.Generator().manual_seed(seed))
