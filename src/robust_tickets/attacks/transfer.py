"""A transfer attack: examples crafted on another network (a surrogate), then used on this one."""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.attacks.base import Attack


class Transfer(Attack):
    """`attack` run against `surrogate` (e.g. the dense network a ticket was pruned from),
    whatever model it is called with; the examples then go to that model.

    Example: ``Transfer(Restarts(pgd, 5), dense)(ticket, x, y, g)``."""

    def __init__(self, attack: Attack, surrogate: nn.Module) -> None:
        self.attack, self.surrogate = attack, surrogate

    def run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        return self.attack(self.surrogate, x, y, generator)
