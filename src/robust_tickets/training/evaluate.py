"""Evaluation on a whole split: natural and adversarial loss and accuracy."""

from __future__ import annotations

import torch
from torch import nn

from robust_tickets.attacks import BackendAttack
from robust_tickets.config import AttackConfig
from robust_tickets.data import Split
from robust_tickets.models.backend import backend_of
from robust_tickets.objectives import Objective

EVAL_BATCH = 1_000  # fastest measured on CPU: rows enough for the matmuls, small enough for cache


def evaluate_split(
    model: nn.Module,
    split: Split,
    attack: type[BackendAttack],
    attack_config: AttackConfig,
    *,
    label_smoothing: float = 0.0,
    loss_form: str = "logits",
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = EVAL_BATCH,
) -> dict[str, float]:
    """Mean loss and accuracy on natural and attacked inputs over the whole split: the attack
    (`attack` with `attack_config`) and the cross-entropy are training's
    (`robust_tickets.objectives.Objective`).

    `label_smoothing` applies to the reported losses only (validation targets are smoothed in
    the paper, test targets are not); accuracies always use the true class. The natural forward
    pass gives the attack its labels and, where the attack starts at x, its first gradient.
    """
    objective = Objective(
        attack=attack.from_config(attack_config), smoothing=label_smoothing, form=loss_form
    )
    totals = {"loss": 0.0, "acc": 0.0, "adv_loss": 0.0, "adv_acc": 0.0}
    n = len(split)
    reuse = objective.attack is not None and objective.attack.reuses_start

    def add(prefix: str, logits: torch.Tensor, y: torch.Tensor) -> None:
        totals[f"{prefix}loss"] += float(objective.cross_entropy(logits, y, reduction="sum"))
        totals[f"{prefix}acc"] += float((logits.argmax(1) == y).sum())

    was_training = model.training
    model.eval()
    try:
        backend = backend_of(model)
        for start in range(0, n, batch_size):
            x = split.x[start : start + batch_size].to(device, non_blocking=True)
            y = split.y[start : start + batch_size].to(device, non_blocking=True)
            inputs = backend.prepare(x)
            natural = backend.forward(inputs, need_grad=reuse)
            logits = natural.logits.detach()
            x_adv = objective.attack_inputs(
                backend, inputs, y, logits, generator, natural if reuse else None
            )
            del natural
            with torch.no_grad():
                add("", logits, y)
                add("adv_", backend.forward(x_adv, need_grad=False).logits, y)
    finally:
        model.train(was_training)
    return {k: v / n for k, v in totals.items()}
