"""One training step: a function of (model weights and masks, optimizer state, batch).

Natural training minimises CE on the natural batch. Adversarial training crafts the adversarial
batch against the current weights and minimises 0.5 * CE(natural) + 0.5 * CE(adversarial); both
halves go through the network in one forward pass. Training targets are label-smoothed.

For the paper's `DenseNet` with an attack that has a fast variant, `train_step` takes the fast
path: hand-written passes (`robust_tickets.models.fast_mlp`), one forward at x shared by the loss
and the attack's gradient, and the weight gradients handed to the same optimizer. Any other model
or attack goes through autograd (`training_loss`). Both give the same step to float tolerance
(tests/test_fast_path.py).
"""

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
)
from robust_tickets.config import ExperimentConfig
from robust_tickets.models.fast_mlp import MLP, Forward, ce_grad
from robust_tickets.models.masked import apply_masks_, masked_layers


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
        y_attack = y
        if config.attack.attack_labels != "true":
            with torch.no_grad():
                y_attack = labels_for_attack(config.attack, y, model(x))
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


@torch.no_grad()
def mlp_loss_and_grads(
    net: MLP,
    x: torch.Tensor,
    y: torch.Tensor,
    config: ExperimentConfig,
    attack: Attack,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """`training_loss` and its (masked) weight gradients, by the hand-written passes."""
    smoothing, n = config.data.label_smoothing, x.shape[0]
    flat = x.reshape(n, -1)
    fwd = net.forward(flat)
    if config.train.adv_train:
        fast = fast_attack_of(attack)
        assert fast is not None
        y_attack = labels_for_attack(config.attack, y, fwd.logits)
        x_adv = fast(net, flat, y_attack, config.attack, generator, fwd)
        x_adv = x_adv.clamp_(INPUT_MIN, INPUT_MAX)
        adv = net.forward(x_adv)
        fwd = Forward(
            [torch.cat(pair) for pair in zip(fwd.inputs, adv.inputs, strict=True)],
            torch.cat([fwd.logits, adv.logits]),
        )
        y = torch.cat([y, y])
    # 0.5 * mean(natural) + 0.5 * mean(adversarial) == mean over both halves
    loss = F.cross_entropy(fwd.logits, y, label_smoothing=smoothing)
    grads = net.weight_grads(
        fwd, ce_grad(fwd.logits, y, label_smoothing=smoothing, scale=1 / len(y))
    )
    l1 = config.train.l1_reg
    if l1 > 0:
        loss = loss + l1 * sum(w.abs().sum() for w in net.weights)
        for g, w in zip(grads, net.weights, strict=True):
            g.add_(w.sign(), alpha=l1)  # w is masked, so its sign is 0 where pruned
    return loss, grads


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    config: ExperimentConfig,
    attack: Attack,
    generator: torch.Generator | None,
) -> float:
    """Update `model` in place on one batch; returns the loss before the update."""
    model.train()
    net = MLP.of(model)
    if net is not None and (not config.train.adv_train or fast_attack_of(attack) is not None):
        loss, grads = mlp_loss_and_grads(net, x, y, config, attack, generator)
        for p, g in zip(model.parameters(), grads, strict=True):
            p.grad = g
    else:
        loss = training_loss(model, x, y, config, attack, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    optimizer.step()
    apply_masks_(model)  # pruned weights stay exactly zero whatever the optimizer does
    return float(loss.detach())


def make_optimizer(model: nn.Module, config: ExperimentConfig) -> torch.optim.Optimizer:
    """A fresh Adam for each level (as in the reference), fused into one kernel per step."""
    return torch.optim.Adam(model.parameters(), lr=config.train.learning_rate, fused=True)
