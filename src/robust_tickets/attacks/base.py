"""What every attack shares: eval mode, gradients w.r.t. the input only, the valid input range.

An attack is a plain function ``attack(model, x, y, config, generator) -> x_adv``. Registering it
with `@attack` wraps it so that the model is in eval mode while the attack runs (and its mode is
restored after), parameter ``.grad`` fields are never touched (`input_gradient` uses
``torch.autograd.grad`` w.r.t. the input alone), and the result is detached and clipped to
[0, 1].

An attack may also register a *fast variant* with `@fast_variant(attack_fn)`: the same maths on
the hand-written passes of `robust_tickets.models.fast_mlp.MLP`, with no autograd. The wrapped
attack uses it automatically whenever the model is a plain `DenseNet`; the training step and the
evaluation call it directly so that it can reuse their forward pass at `x` (``start``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.config import AttackConfig
from robust_tickets.models.fast_mlp import MLP, Forward, ce_grad
from robust_tickets.registry import Registry

INPUT_MIN, INPUT_MAX = 0.0, 1.0


# an attack's random source: one generator, or one per stacked ticket (see FastAttack)
Generators = torch.Generator | Sequence[torch.Generator] | None


class Attack(Protocol):
    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        config: AttackConfig,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor: ...


class FastAttack(Protocol):
    def __call__(
        self,
        net: MLP,
        x: torch.Tensor,
        y: torch.Tensor,
        config: AttackConfig,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        """x: flattened inputs [N, D]; start: `net.forward(x)` if the caller has it; returns the
        unclipped adversarial inputs [N, D]. For T stacked tickets (`MLP` with [T, out, in]
        weights) x is [T, N, D], y [T, N], and `generator` may be one generator per ticket."""
        ...


ATTACKS: Registry[Attack] = Registry("attack")


def labels_for_attack(config: AttackConfig, y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The labels an attack should move away from: the true ones, or the model's predictions
    (`attack_labels: predicted`, which keeps FGSM training from leaking the label)."""
    return y if config.attack_labels == "true" else logits.detach().argmax(-1)


def labels_for_model(
    config: AttackConfig, model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """`labels_for_attack` where the model's logits at `x` are not at hand (runs it if needed)."""
    if config.attack_labels == "true":
        return y
    with torch.no_grad():
        return labels_for_attack(config, y, model(x))


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d(sum of cross-entropy)/dx, without accumulating any parameter gradient."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def mlp_input_gradient(
    net: MLP,
    x: torch.Tensor,
    y: torch.Tensor,
    start: Forward | None = None,
    one_hot: torch.Tensor | None = None,
) -> torch.Tensor:
    """`input_gradient` for a `MLP` on flattened `x` (reusing `start` = its forward at x).

    An attack that takes many gradients for the same `y` can pass ``one_hot`` (y as a float
    one-hot matrix, made once): d(CE)/d(logits) is then one subtraction."""
    fwd = start if start is not None else net.forward(x)
    if one_hot is None:
        return net.input_grad(fwd, ce_grad(fwd.logits, y))
    return net.input_grad(fwd, torch.softmax(fwd.logits, -1).sub_(one_hot))


def fast_attack_of(fn: Attack) -> FastAttack | None:
    """The fast variant registered for attack `fn`, if any."""
    return getattr(fn, "fast", None)


def fast_variant(of: Attack) -> Callable[[FastAttack], FastAttack]:
    """Register the decorated function as the `MLP` implementation of attack `of`."""

    def decorator(fast: FastAttack) -> FastAttack:
        of.fast = fast  # type: ignore[attr-defined]
        return fast

    return decorator


def attack(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[Attack], Attack]:
    """Register an attack function, wrapped with the shared eval-mode and clipping behaviour."""

    def decorator(fn: Attack) -> Attack:
        @functools.wraps(fn)
        def wrapped(model, x, y, config, generator=None):
            fast = fast_attack_of(wrapped)
            net = MLP.of(model) if fast is not None else None
            if net is not None:  # no mode to switch, no autograd: the same maths, faster
                with torch.no_grad():
                    flat = x.detach().reshape(x.shape[0], -1)
                    x_adv = fast(net, flat, y, config, generator, None).view(x.shape)
                return x_adv.clamp_(INPUT_MIN, INPUT_MAX)
            was_training = model.training
            model.eval()
            try:
                x_adv = fn(model, x, y, config, generator)
            finally:
                model.train(was_training)
            return x_adv.detach().clamp_(INPUT_MIN, INPUT_MAX)

        wrapped.fast = None  # type: ignore[attr-defined]
        ATTACKS.register(name, aliases=aliases)(wrapped)
        return wrapped

    return decorator
