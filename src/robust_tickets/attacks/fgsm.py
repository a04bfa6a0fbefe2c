"""Fast Gradient Sign Method (Goodfellow et al., 2015), L-inf."""

from __future__ import annotations

import torch

from robust_tickets.attacks.base import Generators, attack, loss_input_grad
from robust_tickets.config import AttackConfig
from robust_tickets.models.backend import Backend, Forward


@attack("fgsm", uses=("eps", "attack_labels"), reuses_start=lambda config: True)
def fgsm(
    backend: Backend,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    generator: Generators,
    start: Forward | None,
) -> torch.Tensor:
    """``clip(x + eps * sign(grad_x CE(model(x), y)), 0, 1)``; its one gradient is taken on
    `start` when given (the caller's forward at x).

    x: inputs in [0, 1], any shape [N, ...]; y: int64 labels [N]. Example:
    ``x_adv = ATTACKS.get("fgsm")(model, x, y, AttackConfig(eps=0.3))``.
    """
    return torch.add(x, loss_input_grad(backend, x, y, start).sign_(), alpha=config.eps)
