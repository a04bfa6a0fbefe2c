"""What an optimizer and a learning-rate schedule are: components owning their settings.

An `Optimizer` builds the update rule over a level's parameters at the run's learning rate; a
`Schedule` gives the multiplier of that rate at each step of a level (every level restarts its
schedule), after an optional linear warm-up. The learning rate stays a run-wide field
(`learning_rate`), so existing runs keep their identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import torch

from robust_tickets.components import Component, ComponentRegistry


class Optimizer(Component):
    """An update rule; subclasses set `name` and implement `build`."""

    # whether the update runs from gradients handed to `step(grads)` (the MLP's own stepper
    # needs that); the others take theirs from each parameter's ``.grad``
    takes_grads: ClassVar[bool] = False

    def build(self, params: Iterable[torch.Tensor], lr: float) -> Any:
        """A fresh optimizer (`zero_grad()`, `step()`, `state_dict()`, `load_state_dict()`)."""
        raise NotImplementedError


class Schedule(Component):
    """A learning-rate multiplier per step of a level; subclasses implement `after_warmup`.

    Their `Params` declare `warmup` (`setting(0, ..., flat="warmup")`): the first `warmup`
    steps ramp the rate linearly, step i at (i + 1) / warmup of the scheduled value."""

    def factor(self, step: int, total: int) -> float:
        """The multiplier of the learning rate for step `step` (0-based) of `total`."""
        warmup = getattr(self.params, "warmup", 0)
        value = self.after_warmup(step, total)
        if step < warmup:
            value *= (step + 1) / warmup
        return value

    def after_warmup(self, step: int, total: int) -> float:
        raise NotImplementedError

    @property
    def constant(self) -> bool:
        """True when every step gets the plain learning rate (nothing to set per step)."""
        return False


def set_lr(optimizer: Any, lr: float) -> None:
    """Set the learning rate of a torch optimizer or of the fused `Adam`."""
    groups = getattr(optimizer, "param_groups", None)
    if groups is None:
        optimizer.lr = lr
        return
    for group in groups:
        group["lr"] = lr


OPTIMIZERS: ComponentRegistry[Optimizer] = ComponentRegistry("optimizer")
SCHEDULES: ComponentRegistry[Schedule] = ComponentRegistry("learning-rate schedule")
