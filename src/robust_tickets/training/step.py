"""One training step: a function of (model weights and masks, optimizer state, batch).

The loss is the run's objective (`robust_tickets.objectives`, `--objective`): natural training
minimises CE on the natural batch; adversarial training crafts the adversarial batch against the
current weights and minimises the objective's loss of both (the paper's 0.5 * CE(natural) +
0.5 * CE(adversarial), Madry's CE(adversarial), TRADES). Training targets are label-smoothed.
Pruned weights are stored as exact zeros and their gradients are zeroed before every update, so
the optimizer never moves them (weight decay adds a multiple of a zero weight: nothing).

`AutogradStepper` takes the step for any model through autograd, with the natural half's forward
computed once: the attack's labels come from it and, for an attack whose first gradient is at x
(FGSM, PGD without random start) on a model whose train and eval modes agree, so does that
gradient. A model whose backend has a stepper of its own (the paper's MLP:
`robust_tickets.training.fast_step`) gets it from `make_stepper` when that stepper can take the
objective (it returns None for one that is no weighted cross-entropy: TRADES); both agree to
float tolerance (tests/test_fast_path.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import torch
from torch import nn

from robust_tickets.attacks import BackendAttack
from robust_tickets.config import ExperimentConfig
from robust_tickets.errors import UserError
from robust_tickets.models.backend import AutogradBackend, Forward, backend_of, mode_free
from robust_tickets.models.ticket import mask_grads_, prunable
from robust_tickets.objectives import objective_for
from robust_tickets.optim import OPTIMIZERS
from robust_tickets.optim.adam import Adam


class Stepper(Protocol):
    def step(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None) -> None:
        """One update on the batch (x: [n, C, H, W] images in [0, 1], y: [n] labels)."""
        ...


# backend type -> its own stepper (model, masks, optimizer, config, attack, batch_size) ->
# Stepper | None. `attack` is the kind of training attack; a stepper builds it with the
# config's settings, inside the run's objective (`objective_for`).
FAST_STEPPERS: dict[type, Callable[..., Stepper | None]] = {}


class AutogradStepper:
    """Training steps of one level for any model, through autograd (see the module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        masks: dict[str, torch.Tensor],
        optimizer: Any,  # any torch optimizer or the fused Adam; None: only `loss` (criteria)
        config: ExperimentConfig,
        attack: type[BackendAttack],
    ) -> None:
        self.model, self.masks, self.optimizer = model, masks, optimizer
        self.config = config
        self.objective = objective_for(config, attack)
        self.backend = AutogradBackend(model)
        self.share_forward = mode_free(model) and self.objective.reuses_start
        self.weights = list(prunable(model).values())

    def loss(
        self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        model, cfg, objective = self.model, self.config, self.objective
        model.train()
        if not objective.adversarial:
            loss = objective.loss(model(x), None, y)
        else:
            leaf = x.detach().requires_grad_(self.share_forward)
            # Madry's loss and labels need no natural forward; skipping it also keeps batch
            # norm's running statistics to the adversarial batches, as in the textbook loop
            natural = self.share_forward or objective.needs_natural_forward
            logits = model(leaf) if natural else None
            if self.share_forward:  # the attack's first gradient goes through this forward
                start = Forward([leaf], logits)
                x_adv = objective.attack_inputs(self.backend, x, y, logits, generator, start)
            else:
                model.eval()
                try:
                    x_adv = objective.attack_inputs(self.backend, x, y, logits, generator)
                finally:
                    model.train()
            loss = objective.loss(logits, model(x_adv), y)
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
    optimizer: Any,
    config: ExperimentConfig,
    attack: type[BackendAttack],
    batch_size: int | None = None,
) -> Stepper:
    """The stepper of the model's backend if it has one for this config, else autograd's.

    `batch_size` (default: the config's) is the size of the batches it will take. Build it after
    the level's weights, masks and any checkpointed optimizer state are loaded."""
    own = FAST_STEPPERS.get(type(backend_of(model)))
    if not OPTIMIZERS.cls(config.train.optimizer.name).takes_grads:
        own = None  # the own steppers hand their gradients to `step(grads)`: others go autograd
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
    attack: type[BackendAttack],
    generator: torch.Generator | None,
) -> float:
    """One autograd update of `model` in place (any model, any attack); returns the loss."""
    return AutogradStepper(model, masks, optimizer, config, attack).step(x, y, generator)


def make_optimizer(model: nn.Module, config: ExperimentConfig) -> Any:
    """A fresh optimizer for each level (as in the reference): the config's optimizer component
    at its learning rate; `adam` is fused into one kernel per step (`robust_tickets.optim.adam`)."""
    return optimizer_for(model.parameters(), config)


def optimizer_for(params: Iterable[torch.Tensor], config: ExperimentConfig) -> Any:
    """The config's optimizer over `params`."""
    return OPTIMIZERS.get(config.train.optimizer).build(params, config.train.learning_rate)


def adam_for(params: Iterable[torch.Tensor], config: ExperimentConfig) -> Adam:
    """The config's fused Adam over `params`; a one-line error for another optimizer (for the
    steppers that hand Adam their gradients: the MLP's, the batched tickets')."""
    optimizer = optimizer_for(params, config)
    if not isinstance(optimizer, Adam):
        raise UserError(
            f"optimizer {config.train.optimizer.name} is not supported here, only adam: "
            "choose --optimizer adam"
        )
    return optimizer
