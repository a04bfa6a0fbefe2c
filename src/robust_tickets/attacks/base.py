"""What every attack shares: eval mode, gradients w.r.t. the input only, the valid input range.

An attack is a plain function ``attack(model, x, y, config, generator) -> x_adv``. Registering it
with `@attack` wraps it so that the model is in eval mode while the attack runs (and its mode is
restored after), parameter ``.grad`` fields are never touched (`input_gradient` uses
``torch.autograd.grad`` w.r.t. the input alone), and the result is detached and clipped to
[0, 1].
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.config import AttackConfig
from robust_tickets.registry import Registry

INPUT_MIN, INPUT_MAX = 0.0, 1.0


class Attack(Protocol):
    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        config: AttackConfig,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor: ...


ATTACKS: Registry[Attack] = Registry("attack")


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d(sum of cross-entropy)/dx, without accumulating any parameter gradient."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def attack(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[Attack], Attack]:
    """Register an attack function, wrapped with the shared eval-mode and clipping behaviour."""

    def decorator(fn: Attack) -> Attack:
        @functools.wraps(fn)
        def wrapped(model, x, y, config, generator=None):
            was_training = model.training
            model.eval()
            try:
                x_adv = fn(model, x, y, config, generator)
            finally:
                model.train(was_training)
            return x_adv.detach().clamp_(INPUT_MIN, INPUT_MAX)

        ATTACKS.register(name, aliases=aliases)(wrapped)
        return wrapped

    return decorator
