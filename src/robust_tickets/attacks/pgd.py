"""Projected Gradient Descent (Madry et al., 2018), L-inf, optional uniform random start."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from robust_tickets import limits
from robust_tickets.attacks.base import (
    ATTACKS,
    INPUT_MAX,
    INPUT_MIN,
    BackendAttack,
    Generators,
    loss_input_grad,
    uniform,
)
from robust_tickets.components import Params, setting
from robust_tickets.models.backend import Backend, Forward


@ATTACKS.add
class PGD(BackendAttack):
    """`steps` signed-gradient steps of `step_size`, each projected onto the eps-ball and [0, 1].

    With `random_start` the first point is uniform in the eps-ball (drawn from `generator`; with
    one generator per stacked ticket, ticket t's noise is what it would draw alone); without,
    the first gradient reuses `start`. Example:
    ``PGD(PGD.Params(step_size=0.05, steps=10), eps=0.3)(model, x, y, generator)``.
    """

    name = "pgd"

    # The flat names are the fields' of before (`--steps`, `--step-size`): no `pgd_` prefix.
    @dataclass(frozen=True)
    class Params(Params):
        # absolute, unlike the single-step attacks' multiples of eps (`scaled` keeps its ratio)
        step_size: float = setting(0.05, "PGD step size", flat="step_size")
        steps: int = setting(10, "PGD steps", flat="steps")
        random_start: bool = setting(
            True, "PGD starts at a uniform random point of the eps-ball", flat="random_start"
        )

        def validate(self) -> None:
            self.require(self.step_size >= 0, "step_size", "must be >= 0")
            self.require(self.steps >= 1, "steps", "must be at least 1")
            self.require(
                self.steps <= limits.MAX_STEPS, "steps", f"must be at most {limits.MAX_STEPS:,}"
            )

    params: PGD.Params

    @property
    def reuses_start(self) -> bool:
        return not self.params.random_start

    @property
    def passes(self) -> int:
        return self.params.steps

    def scaled(self, eps: float) -> PGD.Params:
        """The step keeps its fraction of eps (0.05 at 0.3: eps / 6 at any eps)."""
        return replace(self.params, step_size=self.relative_step() * eps)

    def relative_step(self) -> float:
        """The step as a fraction of eps (the step itself at eps 0)."""
        return self.params.step_size / self.eps if self.eps > 0 else self.params.step_size

    def summary(self) -> dict[str, Any]:
        return {"steps": self.params.steps, "step": self.relative_step()}

    def perturb(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        p, eps, x = self.params, self.eps, x.detach()
        lower = (x - eps).clamp_(min=INPUT_MIN)
        upper = (x + eps).clamp_(max=INPUT_MAX)
        if p.random_start:
            noise = uniform(x, generator)
            x_adv = torch.maximum(torch.minimum(x + eps * (2 * noise - 1), upper), lower)
        else:
            x_adv = x.clone()
        first = None if p.random_start else start
        one_hot = None
        for k in range(p.steps):
            fwd = first if k == 0 and first is not None else backend.forward(x_adv)
            if one_hot is None:
                one_hot = F.one_hot(y, fwd.logits.shape[-1]).to(fwd.logits.dtype)
            grad = loss_input_grad(backend, x_adv, y, fwd, one_hot)
            # lower <= upper, so clamp(min=lower, max=upper) == max(min(., upper), lower)
            x_adv = x_adv.detach().add_(grad.sign_(), alpha=p.step_size)
            x_adv = x_adv.clamp_(lower, upper)
        return x_adv
