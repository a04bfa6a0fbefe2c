"""FGSM from a random start (Wong, Rice & Kolter, 2020, "Fast is better than free"), L-inf."""

from __future__ import annotations

import dataclasses

import torch

from robust_tickets.attacks.base import Generators, attack
from robust_tickets.attacks.pgd import pgd
from robust_tickets.config import AttackConfig
from robust_tickets.models.backend import Backend, Forward


@attack(
    "fgsm-rs",
    uses=("eps", "fgsm_rs_step", "attack_labels"),
    reuses_start=lambda config: False,
    aliases=("rs-fgsm",),
)
def fgsm_rs(
    backend: Backend,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AttackConfig,
    generator: Generators,
    start: Forward | None,
) -> torch.Tensor:
    """A uniform start in the eps-ball, one signed-gradient step of alpha = `fgsm_rs_step` * eps
    (1.25 eps), projected back onto the eps-ball and [0, 1].

    That is exactly one PGD step from a random start, so it runs the PGD core (one definition
    of the start, the projection and the per-ticket noise). x: inputs in [0, 1], any shape
    [N, ...]; y: int64 labels [N]. Example:
    ``ATTACKS.get("fgsm-rs")(model, x, y, AttackConfig(eps=0.1), torch.Generator())``.
    """
    one_step = dataclasses.replace(
        config, steps=1, step_size=config.fgsm_rs_step * config.eps, random_start=True
    )
    return pgd.core(backend, x, y, one_step, generator, None)
