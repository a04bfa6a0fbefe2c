"""Fast Gradient Sign Method (Goodfellow et al., 2015), L-inf."""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.attacks.base import (
    Generators,
    attack,
    fast_variant,
    input_gradient,
    mlp_input_gradient,
)
from robust_tickets.config import AttackConfig
from robust_tickets.models.fast_mlp import MLP, Forward


@attack("fgsm")
def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``clip(x + eps * sign(grad_x CE(model(x), y)), 0, 1)``.

    x: inputs in [0, 1], any shape [N, ...]; y: int64 labels [N]. Example:
    ``x_adv = fgsm(model, x, y, AttackConfig(eps=0.3))``.
    """
    return x + config.eps * input_gradient(model, x, y).sign()


@fast_variant(fgsm)
def fgsm_mlp(
    net: MLP,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    generator: Generators,
    start: Forward | None,
) -> torch.Tensor:
    """FGSM on flattened `x`; its one gradient is taken on `start` (the caller's forward at x)."""
    return torch.add(x, mlp_input_gradient(net, x, y, start).sign_(), alpha=config.eps)
