"""Evaluation on a whole split: natural and adversarial loss and accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.attacks import Attack
from robust_tickets.attacks.base import (
    INPUT_MAX,
    INPUT_MIN,
    fast_attack_of,
    labels_for_attack,
    labels_for_model,
)
from robust_tickets.config import AttackConfig
from robust_tickets.data import Split
from robust_tickets.models.fast_mlp import MLP

EVAL_BATCH = 1_000  # fastest measured on CPU: rows enough for the matmuls, small enough for cache


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
    fast = fast_attack_of(attack)
    net = MLP.of(model) if fast is not None else None
    totals = {"loss": 0.0, "acc": 0.0, "adv_loss": 0.0, "adv_acc": 0.0}
    n = len(split)

    def add(prefix: str, logits: torch.Tensor, y: torch.Tensor) -> None:
        loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing, reduction="sum")
        totals[f"{prefix}loss"] += float(loss)
        totals[f"{prefix}acc"] += float((logits.argmax(1) == y).sum())

    was_training = model.training
    model.eval()
    try:
        for start in range(0, n, batch_size):
            x = split.x[start : start + batch_size].to(device, non_blocking=True)
            y = split.y[start : start + batch_size].to(device, non_blocking=True)
            if net is not None and fast is not None:  # one forward at x for loss and attack
                with torch.no_grad():
                    flat = x.reshape(x.shape[0], -1)
                    natural = net.forward(flat)
                    y_attack = labels_for_attack(attack_config, y, natural.logits)
                    x_adv = fast(net, flat, y_attack, attack_config, generator, natural)
                    add("", natural.logits, y)
                    add("adv_", net.logits(x_adv.clamp_(INPUT_MIN, INPUT_MAX)), y)
                continue
            y_attack = labels_for_model(attack_config, model, x, y)
            x_adv = attack(model, x, y_attack, attack_config, generator)
            with torch.inference_mode():
                for prefix, inputs in (("", x), ("adv_", x_adv)):
                    add(prefix, model(inputs), y)
    finally:
        model.train(was_training)
    return {k: v / n for k, v in totals.items()}
