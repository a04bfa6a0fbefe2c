"""TRADES (Zhang et al., 2019, "Theoretically Principled Trade-off between Robustness and
Accuracy"): CE(natural) + beta * KL(p(x) || p(x_adv)), where x_adv maximises that KL in the
eps-ball, found from x + 0.001 * N(0, 1) by `steps` signed-gradient steps of `step_size`
(those of the run's attack, which must be `pgd`; that PGD is what evaluation measures).

Its loss is no weighted cross-entropy (the KL couples each natural row with its adversarial
one, and gradients flow through both), so it trains through autograd on every model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from robust_tickets.attacks.base import INPUT_MAX, INPUT_MIN, Generators
from robust_tickets.components import Params, setting
from robust_tickets.models.backend import Backend, Forward
from robust_tickets.objectives.base import OBJECTIVES, Objective

START_SCALE = 0.001  # the reference's start: x + 0.001 * N(0, 1) (the KL's gradient is 0 at x)


def kl_attack(
    backend: Backend,
    x: torch.Tensor,
    natural_logits: torch.Tensor,
    *,
    eps: float,
    step_size: float,
    steps: int,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Prepared inputs near x (L-inf eps-ball, [0, 1]) that raise sum_i KL(p(x_i) || p(x'_i)),
    p the softmax of `natural_logits` (the model at x) and of the model at x'."""
    x = x.detach()
    lower = (x - eps).clamp_(min=INPUT_MIN)
    upper = (x + eps).clamp_(max=INPUT_MAX)
    target = torch.softmax(natural_logits.detach(), -1)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    x_adv = x + START_SCALE * noise
    for _ in range(steps):
        fwd = backend.forward(x_adv)
        # d/d(logits') of sum_i KL(p_i || softmax(logits'_i)) = softmax(logits') - p
        dlogits = torch.softmax(fwd.logits.detach(), -1).sub_(target)
        grad = backend.input_grad(fwd, dlogits)
        x_adv = x_adv.detach().add_(grad.sign_(), alpha=step_size).clamp_(lower, upper)
    return x_adv


def kl_divergence(natural_logits: torch.Tensor, adversarial_logits: torch.Tensor) -> torch.Tensor:
    """mean_i KL(p(x_i) || p(x_adv_i)), differentiable in both."""
    return F.kl_div(
        F.log_softmax(adversarial_logits, -1),
        F.log_softmax(natural_logits, -1),
        reduction="batchmean",
        log_target=True,
    )


@OBJECTIVES.add
class Trades(Objective):
    name = "trades"
    adversarial = True
    row_weighted = False
    attack_needed = "pgd"

    @dataclass(frozen=True)
    class Params(Params):
        beta: float = setting(
            6.0, "weight of KL(p(x) || p(x_adv)) beside CE(natural) (Zhang et al.: 1 to 6)"
        )

        def validate(self) -> None:
            self.require(self.beta >= 0, "beta", "must be >= 0")

    @property
    def reuses_start(self) -> bool:
        return False  # its first gradient is at x + noise, never at x

    def attack_inputs(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        logits: torch.Tensor,
        generator: Generators,
        start: Forward | None = None,
    ) -> torch.Tensor:
        """The KL attack (labels play no part). p(x) is taken again here, in the mode the
        caller set for attacks (eval), as the reference does, rather than from the training
        forward's `logits`."""
        if self.attack is None:
            raise ValueError("the trades objective has no attack")
        if isinstance(generator, Sequence):
            raise ValueError("the trades objective attacks one model at a time")
        pgd = self.attack.params
        natural = backend.forward(x, need_grad=False).logits
        return kl_attack(
            backend,
            x,
            natural,
            eps=self.attack.eps,
            step_size=pgd.step_size,
            steps=pgd.steps,
            generator=generator,
        )

    def loss(
        self,
        natural_logits: torch.Tensor,
        adversarial_logits: torch.Tensor | None,
        y: torch.Tensor,
    ) -> torch.Tensor:
        if adversarial_logits is None:
            raise ValueError("the trades objective needs the adversarial logits")
        natural = self.cross_entropy(natural_logits, y)
        return natural + self.params.beta * kl_divergence(natural_logits, adversarial_logits)
