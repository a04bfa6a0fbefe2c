"""One training step: a function of (model weights and masks, optimizer state, batch).

Natural training minimises CE on the natural batch. Adversarial training crafts the adversarial
batch against the current weights and minimises 0.5 * CE(natural) + 0.5 * CE(adversarial); both
halves go through the network in one forward pass. Training targets are label-smoothed.

`train_step` is the autograd definition of a step, for any model and attack. For the paper's
`DenseNet` with an attack that has a fast variant, the experiment loop takes the same step with
`robust_tickets.training.fast_step.FastStepper` (hand-written passes, no autograd); both agree to
float tolerance (tests/test_fast_path.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.attacks import Attack
from robust_tickets.attacks.base import labels_for_model
from robust_tickets.config import ExperimentConfig
from robust_tickets.models.masked import apply_masks_, masked_layers
from robust_tickets.training.adam import Adam


def training_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: ExperimentConfig,
    attack: Attack,
    generator: torch.Generator | None,
) -> torch.Tensor:
    smoothing = config.data.label_smoothing
    if config.train.adv_train:
        y_attack = labels_for_model(config.attack, model, x, y)
        x_adv = attack(model, x, y_attack, config.attack, generator)
        logits = model(torch.cat([x, x_adv]))
        n = x.shape[0]
        loss = 0.5 * F.cross_entropy(logits[:n], y, label_smoothing=smoothing) + 0.5 * (
            F.cross_entropy(logits[n:], y, label_smoothing=smoothing)
        )
    else:
        loss = F.cross_entropy(model(x), y, label_smoothing=smoothing)
    if config.train.l1_reg > 0:
        penalty = sum((m.weight * m.mask).abs().sum() for m in masked_layers(model).values())
        loss = loss + config.train.l1_reg * penalty
    return loss


def train_step(
    model: nn.Module,
    optimizer: Adam,
    x: torch.Tensor,
    y: torch.Tensor,
    config: ExperimentConfig,
    attack: Attack,
    generator: torch.Generator | None,
) -> float:
    """Update `model` in place on one batch by autograd; returns the loss before the update.

    Any model, any attack. The experiment loop uses `FastStepper` instead wherever it applies
    (the paper's `DenseNet`), which takes the same step without autograd."""
    model.train()
    loss = training_loss(model, x, y, config, attack, generator)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    apply_masks_(model)  # pruned weights stay exactly zero whatever the optimizer does
    return float(loss.detach())


def make_optimizer(model: nn.Module, config: ExperimentConfig) -> Adam:
    """A fresh Adam for each level (as in the reference), fused into one kernel per step."""
    return Adam(model.parameters(), config.train.learning_rate)
