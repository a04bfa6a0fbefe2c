"""One training step: a function of (model weights and masks, optimizer state, batch).

Natural training minimises CE on the natural batch. Adversarial training crafts the adversarial
batch against the current weights and minimises 0.5 * CE(natural) + 0.5 * CE(adversarial).
Training targets are label-smoothed. Pruned weights are stored as exact zeros and their
gradients are zeroed before every update, so Adam never moves them.

`AutogradStepper` takes the step for any model through autograd, with the natural half's forward
computed once: the attack's labels come from it and, for an attack whose first gradient is at x
(FGSM, PGD without random start) on a model whose train and eval modes agree, so does that
gradient. A model whose backend has a stepper of its own (the paper's MLP:
`robust_tickets.training.fast_step`) gets it from `make_stepper`; both agree to float tolerance
(tests/test_fast_path.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from robust_tickets.attacks import Attack
from robust_tickets.attacks.base import INPUT_MAX, INPUT_MIN, labels_for_attack
from robust_tickets.config import ExperimentConfig
from robust_tickets.models.backend import AutogradBackend, Forward, backend_of, mode_free
from robust_tickets.models.ticket import mask_grads_, prunable
from robust_tickets.training.adam import Adam
from robust_tickets.training.losses import cross_entropy


class Stepper(Protocol):
    def step(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> None:
        """One update on the batch (x: [n, C, H, W] images in [0, 1], y: [n] labels)."""
        ...


# backend type -> its own stepper (model, masks, optimizer, config, attack, batch_size) ->
# Stepper | None
FAST_STEPPERS: dict[type, Callable[..., Stepper | None]] = {}


class AutogradStepper:
    """Training steps of one level for any model, through autograd (see the module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        masks: dict[str, torch.Tensor],
        optimizer: Adam | None,  # None: only `loss` is used (pruning criteria)
        config: ExperimentConfig,
        attack: Attack,
    ) -> None:
        self.model, self.masks, self.optimizer = model, masks, optimizer
        self.config, self.attack = config, attack
        self.backend = AutogradBackend(model)
        self.share_forward = mode_free(model) and attack.reuses_start(config.attack)
        self.weights = list(prunable(model).values())

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        model, cfg = self.model, self.config
        smoothing, form = cfg.data.label_smoothing, cfg.train.loss_form
        model.train()
        if not cfg.train.adv_train:
            loss = cross_entropy(model(x), y, smoothing=smoothing, form=form)
        else:
            leaf = x.detach().requires_grad_(self.share_forward)
            logits = model(leaf)
            y_attack = labels_for_attack(cfg.attack, y, logits)
            if self.share_forward:
                start = Forward([leaf], logits)
                x_adv = self.attack.core(self.backend, x, y_attack, cfg.attack, generator, start)
            else:
                model.eval()
                try:
                    x_adv = self.attack.core(self.backend, x, y_attack, cfg.attack, generator, None)
                finally:
                    model.train()
            adv_logits = model(x_adv.detach().clamp_(INPUT_MIN, INPUT_MAX))
            loss = 0.5 * cross_entropy(logits, y, smoothing=smoothing, form=form) + 0.5 * (
                cross_entropy(adv_logits, y, smoothing=smoothing, form=form)
            )
        if cfg.train.l1_reg > 0:  # pruned weights are zero, so they add nothing
            loss = loss + cfg.train.l1_reg * sum(w.abs().sum() for w in self.weights)
        return loss

    def step(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> float:
        """One update; returns the loss before it."""
        if self.optimizer is None:
            raise ValueError("this stepper was built without an optimizer")
        loss = self.loss(x, y, generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        mask_grads_(self.model, self.masks)
        self.optimizer.step()
        return float(loss.detach())


def make_stepper(
    model: nn.Module,
    masks: dict[str, torch.Tensor],
    optimizer: Adam,
    config: ExperimentConfig,
    attack: Attack,
    batch_size: int | None = None,
) -> Stepper:
    """The stepper of the model's backend if it has one for this config, else autograd's.

    `batch_size` (default: the config's) is the size of the batches it will take. Build it after
    the level's weights, masks and any checkpointed optimizer state are loaded."""
    own = FAST_STEPPERS.get(type(backend_of(model)))
    stepper = own(model, masks, optimizer, config, attack, batch_size) if own is not None else None
    return (
        stepper if stepper is not None else AutogradStepper(model, masks, optimizer, config, attack)
    )


def train_step(
    model: nn.Module,
    masks: dict[str, torch.Tensor],
    optimizer: Adam,
    x: torch.Tensor,
    y: torch.Tensor,
    config: ExperimentConfig,
    attack: Attack,
    generator: torch.Generator | None,
) -> float:
    """One autograd update of `model` in place (any model, any attack); returns the loss."""
    return AutogradStepper(model, masks, optimizer, config, attack).step(x, y, generator)


def make_optimizer(model: nn.Module, config: ExperimentConfig) -> Adam:
    """A fresh Adam for each level (as in the reference), fused into one kernel per step; with
    `adam: keras`, TF 1.13 Keras's variant (see `robust_tickets.training.adam`)."""
    if config.train.adam == "keras":
        return Adam(model.parameters(), config.train.learning_rate, eps=1e-7, keras=True)
    return Adam(model.parameters(), config.train.learning_rate)
