"""Projected Gradient Descent (Madry et al., 2018), L-inf, optional uniform random start."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.attacks.base import (
    INPUT_MAX,
    INPUT_MIN,
    Generators,
    attack,
    fast_variant,
    input_gradient,
    mlp_input_gradient,
)
from robust_tickets.config import AttackConfig
from robust_tickets.models.fast_mlp import MLP, Forward


def _start(
    x: torch.Tensor,
    config: AttackConfig,
    generator: Generators,
):
    """(lower bound, upper bound, first point) of the attack on `x`.

    With one generator per ticket (x: [T, N, D]) ticket t's noise is what `generator[t]` would
    give an attack on that ticket alone."""
    eps = config.eps
    x = x.detach()
    lower = (x - eps).clamp_(min=INPUT_MIN)
    upper = (x + eps).clamp_(max=INPUT_MAX)
    if config.random_start:
        noise = _uniform(x, generator)
        x_adv = torch.maximum(torch.minimum(x + eps * (2 * noise - 1), upper), lower)
    else:
        x_adv = x.clone()
    return lower, upper, x_adv


def _uniform(x: torch.Tensor, generator: Generators) -> torch.Tensor:
    if generator is None or isinstance(generator, torch.Generator):
        return torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if len(generator) != x.shape[0]:
        raise ValueError(f"{len(generator)} generators for {x.shape[0]} stacked tickets")
    noise = torch.empty_like(x)
    for row, g in zip(noise, generator, strict=True):
        torch.rand(row.shape, generator=g, dtype=x.dtype, device=x.device, out=row)
    return noise


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
    lower, upper, x_adv = _start(x, config, generator)
    for _ in range(config.steps):
        step = config.step_size * input_gradient(model, x_adv, y).sign()
        x_adv = torch.maximum(torch.minimum(x_adv + step, upper), lower)
    return x_adv


@fast_variant(pgd)
def pgd_mlp(
    net: MLP,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    generator: Generators,
    start: Forward | None,
) -> torch.Tensor:
    """PGD on flattened `x`; without a random start the first gradient reuses `start`."""
    lower, upper, x_adv = _start(x, config, generator)
    first = None if config.random_start else start
    one_hot = F.one_hot(y, net.weights[-1].shape[-2]).to(x.dtype)
    for k in range(config.steps):
        grad = mlp_input_gradient(net, x_adv, y, first if k == 0 else None, one_hot)
        # lower <= upper, so clamp(min=lower, max=upper) == max(min(., upper), lower)
        x_adv = x_adv.add_(grad.sign_(), alpha=config.step_size).clamp_(lower, upper)
    return x_adv
