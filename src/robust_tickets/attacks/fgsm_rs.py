"""FGSM from a random start (Wong, Rice & Kolter, 2020, "Fast is better than free"), L-inf."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from robust_tickets.attacks.base import ATTACKS, BackendAttack, Generators
from robust_tickets.attacks.pgd import PGD
from robust_tickets.components import Params, setting
from robust_tickets.models.backend import Backend, Forward


@ATTACKS.add
class FGSMRandomStart(BackendAttack):
    """A uniform start in the eps-ball, one signed-gradient step of alpha = `step` * eps
    (1.25 eps), projected back onto the eps-ball and [0, 1].

    That is exactly one PGD step from a random start, so it runs PGD (one definition of the
    start, the projection and the per-ticket noise). x: inputs in [0, 1], any shape [N, ...];
    y: int64 labels [N]. Example:
    ``FGSMRandomStart(eps=0.1)(model, x, y, torch.Generator())``.
    """

    name = "fgsm-rs"
    aliases = ("rs-fgsm",)

    @dataclass(frozen=True)
    class Params(Params):
        step: float = setting(1.25, "the step from its random start in multiples of eps")

        def validate(self) -> None:
            self.require(self.step > 0, "step", "must be positive")

    params: FGSMRandomStart.Params

    def perturb(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        one_step = PGD.Params(step_size=self.params.step * self.eps, steps=1, random_start=True)
        return PGD(one_step, eps=self.eps).perturb(backend, x, y, generator, None)
