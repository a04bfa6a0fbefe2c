"""N-FGSM (de Jorge et al., 2022, "Make Some Noise"), L-inf: noise, one step, no projection."""

from __future__ import annotations

from dataclasses import dataclass

import torch

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
class NFGSM(BackendAttack):
    """``x0 = clip(x + U[-k*eps, k*eps]); x0 + alpha * sign(grad_x CE(model(x0), y))``, clipped
    to [0, 1], with k = `noise` (2) and alpha = `step` * eps (eps).

    A training attack: it is *not* projected onto the eps-ball (the paper's point: the larger
    noise and the unclipped step avoid catastrophic overfitting), so each pixel moves by at most
    (k + `step`) * eps. The noise is clipped to [0, 1] before the gradient is taken, as in
    the authors' code. With k = 0 it is FGSM of step alpha (its gradient reuses `start`).

    x: inputs in [0, 1], any shape [N, ...]; y: int64 labels [N]. Example:
    ``NFGSM(eps=0.1)(model, x, y, torch.Generator())``.
    """

    name = "nfgsm"
    aliases = ("n-fgsm",)

    # In multiples of eps, as the paper gives them (an eps sweep keeps its ratios).
    @dataclass(frozen=True)
    class Params(Params):
        noise: float = setting(2.0, "the uniform noise's half-width in multiples of eps")
        step: float = setting(1.0, "the signed-gradient step in multiples of eps")

        def validate(self) -> None:
            self.require(self.noise >= 0, "noise", "must be >= 0 (0: no noise)")
            self.require(self.step > 0, "step", "must be positive")

    params: NFGSM.Params

    @property
    def reuses_start(self) -> bool:
        return self.params.noise == 0

    def perturb(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        p, x = self.params, x.detach()
        if p.noise == 0:
            noisy, first = x, start
        else:
            k_eps = p.noise * self.eps
            noisy = (x + k_eps * (2 * uniform(x, generator) - 1)).clamp_(INPUT_MIN, INPUT_MAX)
            first = None
        grad = loss_input_grad(backend, noisy, y, first)
        return torch.add(noisy, grad.sign_(), alpha=p.step * self.eps)
