"""Masked layers: the mask is a buffer and the effective weight is ``weight * mask``.

Multiplying by the mask in the forward pass makes pruned weights exactly zero in every forward
pass *and* gives them an exactly-zero gradient, so an optimizer that starts a level with fresh
state never moves them; `apply_masks_` also zeroes the stored values after every step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Module):
    """A bias-free (by default) linear layer with a binary weight mask."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.register_buffer("mask", torch.ones(out_features, in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        out_f, in_f = self.weight.shape
        return f"in_features={in_f}, out_features={out_f}, bias={self.bias is not None}"


def masked_layers(model: nn.Module) -> dict[str, MaskedLinear]:
    """Every prunable layer by its module name, in forward order (the last is the output layer)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, MaskedLinear)}


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every prunable weight, keyed ``<layer>.weight``."""
    return {f"{n}.weight": m.weight.detach().clone() for n, m in masked_layers(model).items()}


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every mask, keyed ``<layer>.weight`` (the weight each mask applies to)."""
    return {f"{n}.weight": m.mask.detach().clone() for n, m in masked_layers(model).items()}


@torch.no_grad()
def load_weights(model: nn.Module, values: dict[str, torch.Tensor]) -> None:
    for name, layer in masked_layers(model).items():
        layer.weight.copy_(values[f"{name}.weight"])


@torch.no_grad()
def load_masks(model: nn.Module, values: dict[str, torch.Tensor]) -> None:
    for name, layer in masked_layers(model).items():
        layer.mask.copy_(values[f"{name}.weight"])


@torch.no_grad()
def apply_masks_(model: nn.Module) -> None:
    """Zero the stored value of every pruned weight."""
    for layer in masked_layers(model).values():
        layer.weight.mul_(layer.mask)
