"""Fast Gradient Sign Method (Goodfellow et al., 2015), L-inf."""

from __future__ import annotations

import torch

from robust_tickets.attacks.base import ATTACKS, BackendAttack, Generators, loss_input_grad
from robust_tickets.models.backend import Backend, Forward


@ATTACKS.add
class FGSM(BackendAttack):
    """``clip(x + eps * sign(grad_x CE(model(x), y)), 0, 1)``; its one gradient is taken on
    `start` when given (the caller's forward at x).

    x: inputs in [0, 1], any shape [N, ...]; y: int64 labels [N]. Example:
    ``x_adv = FGSM(eps=0.3)(model, x, y)``. It has no settings of its own.
    """

    name = "fgsm"

    @property
    def reuses_start(self) -> bool:
        return True

    def perturb(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        grad = loss_input_grad(backend, x, y, start)
        return torch.add(x, grad.sign_(), alpha=self.eps)
