"""Projected Gradient Descent (Madry et al., 2018), L-inf, optional uniform random start."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robust_tickets.attacks.base import (
    INPUT_MAX,
    INPUT_MIN,
    Generators,
    attack,
    loss_input_grad,
    uniform,
)
from robust_tickets.config import AttackConfig
from robust_tickets.models.backend import Backend, Forward


def _start(
    x: torch.Tensor,
    config: AttackConfig,
    generator: Generators,
):
    """(lower bound, upper bound, first point) of the attack on `x`.

    With one generator per ticket (x: [T, N, D]) ticket t's noise is what `generator[t]` would
    give an attack on that ticket alone (`base.uniform`)."""
    eps = config.eps
    x = x.detach()
    lower = (x - eps).clamp_(min=INPUT_MIN)
    upper = (x + eps).clamp_(max=INPUT_MAX)
    if config.random_start:
        noise = uniform(x, generator)
        x_adv = torch.maximum(torch.minimum(x + eps * (2 * noise - 1), upper), lower)
    else:
        x_adv = x.clone()
    return lower, upper, x_adv


@attack(
    "pgd",
    uses=("eps", "step_size", "steps", "random_start", "attack_labels"),
    reuses_start=lambda config: not config.random_start,
)
def pgd(
    backend: Backend,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    generator: Generators,
    start: Forward | None,
) -> torch.Tensor:
    """`steps` signed-gradient steps of `step_size`, each projected onto the eps-ball and [0, 1].

    With `random_start` the first point is uniform in the eps-ball (drawn from `generator`);
    without, the first gradient reuses `start`. Example:
    ``ATTACKS.get("pgd")(model, x, y, AttackConfig(eps=0.3, step_size=0.05, steps=10))``.
    """
    lower, upper, x_adv = _start(x, config, generator)
    first = None if config.random_start else start
    one_hot = None
    for k in range(config.steps):
        fwd = first if k == 0 and first is not None else backend.forward(x_adv)
        if one_hot is None:
            one_hot = F.one_hot(y, fwd.logits.shape[-1]).to(fwd.logits.dtype)
        grad = loss_input_grad(backend, x_adv, y, fwd, one_hot)
        # lower <= upper, so clamp(min=lower, max=upper) == max(min(., upper), lower)
        x_adv = x_adv.detach().add_(grad.sign_(), alpha=config.step_size).clamp_(lower, upper)
    return x_adv
