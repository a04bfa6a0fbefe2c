"""Projected Gradient Descent (Madry et al., 2018), L-inf, optional uniform random start."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robust_tickets.attacks.base import (
    INPUT_MAX,
    INPUT_MIN,
    BackendAttack,
    Generators,
    loss_input_grad,
    register,
    uniform,
)
from robust_tickets.models.backend import Backend, Forward


@register("pgd")
class PGD(BackendAttack):
    """`steps` signed-gradient steps of `step_size`, each projected onto the eps-ball and [0, 1].

    With `random_start` the first point is uniform in the eps-ball (drawn from `generator`; with
    one generator per stacked ticket, ticket t's noise is what it would draw alone); without,
    the first gradient reuses `start`. Example:
    ``PGD(AttackConfig(eps=0.3, step_size=0.05, steps=10))(model, x, y, generator)``.
    """

    uses = ("eps", "step_size", "steps", "random_start", "attack_labels")

    @property
    def reuses_start(self) -> bool:
        return not self.config.random_start

    @property
    def passes(self) -> int:
        return self.config.steps

    def perturb(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        eps, x = self.config.eps, x.detach()
        lower = (x - eps).clamp_(min=INPUT_MIN)
        upper = (x + eps).clamp_(max=INPUT_MAX)
        if self.config.random_start:
            noise = uniform(x, generator)
            x_adv = torch.maximum(torch.minimum(x + eps * (2 * noise - 1), upper), lower)
        else:
            x_adv = x.clone()
        first = None if self.config.random_start else start
        one_hot = None
        for k in range(self.config.steps):
            fwd = first if k == 0 and first is not None else backend.forward(x_adv)
            if one_hot is None:
                one_hot = F.one_hot(y, fwd.logits.shape[-1]).to(fwd.logits.dtype)
            grad = loss_input_grad(backend, x_adv, y, fwd, one_hot)
            # lower <= upper, so clamp(min=lower, max=upper) == max(min(., upper), lower)
            x_adv = x_adv.detach().add_(grad.sign_(), alpha=self.config.step_size)
            x_adv = x_adv.clamp_(lower, upper)
        return x_adv
