"""FGSM from a random start (Wong, Rice & Kolter, 2020, "Fast is better than free"), L-inf."""

from __future__ import annotations

import dataclasses

import torch

from robust_tickets.attacks.base import BackendAttack, Generators, register
from robust_tickets.attacks.pgd import PGD
from robust_tickets.models.backend import Backend, Forward


@register("fgsm-rs", aliases=("rs-fgsm",))
class FGSMRandomStart(BackendAttack):
    """A uniform start in the eps-ball, one signed-gradient step of alpha = `fgsm_rs_step` * eps
    (1.25 eps), projected back onto the eps-ball and [0, 1].

    That is exactly one PGD step from a random start, so it runs PGD (one definition of the
    start, the projection and the per-ticket noise). x: inputs in [0, 1], any shape [N, ...];
    y: int64 labels [N]. Example:
    ``FGSMRandomStart(AttackConfig(eps=0.1))(model, x, y, torch.Generator())``.
    """

    uses = ("eps", "fgsm_rs_step", "attack_labels")

    def perturb(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        c = self.config
        one_step = dataclasses.replace(
            c, steps=1, step_size=c.fgsm_rs_step * c.eps, random_start=True
        )
        return PGD(one_step).perturb(backend, x, y, generator, None)
