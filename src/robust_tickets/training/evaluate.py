"""Evaluation on a whole split: natural and adversarial loss and accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.attacks import Attack
from robust_tickets.config import AttackConfig
from robust_tickets.data import Split

EVAL_BATCH = 2_000


def evaluate_split(
    model: nn.Module,
    split: Split,
    attack: Attack,
    attack_config: AttackConfig,
    *,
    label_smoothing: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = EVAL_BATCH,
) -> dict[str, float]:
    """Mean loss and accuracy on natural and attacked inputs over the whole split.

    `label_smoothing` applies to the reported losses only (validation targets are smoothed in
    the paper, test targets are not); accuracies always use the true class.
    """
    was_training = model.training
    model.eval()
    totals = {"loss": 0.0, "acc": 0.0, "adv_loss": 0.0, "adv_acc": 0.0}
    n = len(split)
    try:
        for start in range(0, n, batch_size):
            x = split.x[start : start + batch_size].to(device, non_blocking=True)
            y = split.y[start : start + batch_size].to(device, non_blocking=True)
            x_adv = attack(model, x, y, attack_config, generator)
            with torch.inference_mode():
                for prefix, inputs in (("", x), ("adv_", x_adv)):
                    logits = model(inputs)
                    loss = F.cross_entropy(
                        logits, y, label_smoothing=label_smoothing, reduction="sum"
                    )
                    totals[f"{prefix}loss"] += float(loss)
                    totals[f"{prefix}acc"] += float((logits.argmax(1) == y).sum())
    finally:
        model.train(was_training)
    return {k: v / n for k, v in totals.items()}
