"""The `sgd` optimizer: torch's SGD with momentum, Nesterov momentum and L2 weight decay.

Weight decay adds ``weight_decay * w`` to each gradient after the pruned entries' gradients are
zeroed; a pruned weight is zero, so its gradient, its momentum and its value stay zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from robust_tickets.components import Params, setting
from robust_tickets.optim.base import OPTIMIZERS, Optimizer


@OPTIMIZERS.add
class SGD(Optimizer):
    name = "sgd"

    @dataclass(frozen=True)
    class Params(Params):
        momentum: float = setting(0.0, "momentum factor (0: plain SGD)", flat="momentum")
        nesterov: bool = setting(False, "Nesterov momentum (needs momentum > 0)", flat="nesterov")
        weight_decay: float = setting(0.0, "L2 weight decay", flat="weight_decay")

        def validate(self) -> None:
            self.require(0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
            self.require(self.weight_decay >= 0, "weight_decay", "must be >= 0")
            self.require(
                not self.nesterov or self.momentum > 0, "nesterov", "needs --momentum above 0"
            )

    def build(self, params: Iterable[torch.Tensor], lr: float) -> torch.optim.SGD:
        p = self.params
        return torch.optim.SGD(
            list(params),
            lr=lr,
            momentum=p.momentum,
            nesterov=p.nesterov,
            weight_decay=p.weight_decay,
        )
