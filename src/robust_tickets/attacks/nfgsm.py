"""N-FGSM (de Jorge et al., 2022, "Make Some Noise"), L-inf: noise, one step, no projection."""

from __future__ import annotations

import torch

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


@register("nfgsm", aliases=("n-fgsm",))
class NFGSM(BackendAttack):
    """``x0 = clip(x + U[-k*eps, k*eps]); x0 + alpha * sign(grad_x CE(model(x0), y))``, clipped
    to [0, 1], with k = `nfgsm_noise` (2) and alpha = `nfgsm_step` * eps (eps).

    A training attack: it is *not* projected onto the eps-ball (the paper's point: the larger
    noise and the unclipped step avoid catastrophic overfitting), so each pixel moves by at most
    (k + `nfgsm_step`) * eps. The noise is clipped to [0, 1] before the gradient is taken, as in
    the authors' code. With k = 0 it is FGSM of step alpha (its gradient reuses `start`).

    x: inputs in [0, 1], any shape [N, ...]; y: int64 labels [N]. Example:
    ``NFGSM(AttackConfig(eps=0.1))(model, x, y, torch.Generator())``.
    """

    uses = ("eps", "nfgsm_noise", "nfgsm_step", "attack_labels")

    @property
    def reuses_start(self) -> bool:
        return self.config.nfgsm_noise == 0

    def perturb(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        c, x = self.config, x.detach()
        if c.nfgsm_noise == 0:
            noisy, first = x, start
        else:
            k_eps = c.nfgsm_noise * c.eps
            noisy = (x + k_eps * (2 * uniform(x, generator) - 1)).clamp_(INPUT_MIN, INPUT_MAX)
            first = None
        grad = loss_input_grad(backend, noisy, y, first)
        return torch.add(noisy, grad.sign_(), alpha=c.nfgsm_step * c.eps)
