"""An attack on the labels its settings choose (`attack_labels`), from the model's own forward."""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.attacks.base import Attack, BackendAttack


class ChosenLabels(Attack):
    """`attack` moving away from `attack.labels(y, model(x))`: the true labels, or with
    ``attack_labels: predicted`` the model's predictions, as training attacks (the paper's
    measure evaluates the training attack so).

    Example: ``ChosenLabels(FGSM(eps=0.1, labels="predicted"))``."""

    def __init__(self, attack: BackendAttack) -> None:
        self.attack = attack

    def run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        with torch.no_grad():
            logits = model(x)
        return self.attack(model, x, self.attack.labels(y, logits), generator)
