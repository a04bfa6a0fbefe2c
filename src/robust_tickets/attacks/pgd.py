"""Projected Gradient Descent (Madry et al., 2018), L-inf, optional uniform random start."""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.attacks.base import INPUT_MAX, INPUT_MIN, attack, input_gradient
from robust_tickets.config import AttackConfig


@attack("pgd")
def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`steps` signed-gradient steps of `step_size`, each projected onto the eps-ball and [0, 1].

    With `random_start` the first point is uniform in the eps-ball (drawn from `generator`).
    Example: ``pgd(model, x, y, AttackConfig(eps=0.3, step_size=0.05, steps=10))``.
    """
    eps = config.eps
    x = x.detach()
    lower = (x - eps).clamp_(min=INPUT_MIN)
    upper = (x + eps).clamp_(max=INPUT_MAX)
    if config.random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x_adv = torch.maximum(torch.minimum(x + eps * (2 * noise - 1), upper), lower)
    else:
        x_adv = x.clone()
    for _ in range(config.steps):
        step = config.step_size * input_gradient(model, x_adv, y).sign()
        x_adv = torch.maximum(torch.minimum(x_adv + step, upper), lower)
    return x_adv
