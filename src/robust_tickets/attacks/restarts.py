"""Any attack from several random starts, keeping per example the first start that fools."""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.attacks.base import Attack


class Restarts(Attack):
    """`attack` run `restarts` times from one generator, each time on the examples no earlier
    start fooled (a failed start is as good as any other failed start). With PGD from a random
    start, 40 steps of 2.5 * eps / 40 and 5 restarts, that is Madry et al.'s evaluation.

    Example: ``Restarts(PGD(PGD.Params(0.025, 40), eps=0.3), 5)(model, x, y, g)``.
    """

    def __init__(self, attack: Attack, restarts: int) -> None:
        self.attack, self.restarts = attack, restarts

    def run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        best = x.clone()
        alive = torch.ones(len(y), dtype=torch.bool, device=x.device)
        for _ in range(self.restarts):
            index = alive.nonzero().squeeze(1)
            if index.numel() == 0:
                break
            x_adv = self.attack(model, x[index], y[index], generator)
            with torch.no_grad():
                fooled = model(x_adv).argmax(1) != y[index]
            best[index] = x_adv
            alive[index[fooled]] = False
        return best
