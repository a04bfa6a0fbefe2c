"""What every attack shares: eval mode, gradients w.r.t. the input only, the valid input range.

An attack is written once, as ``core(backend, x, y, config, generator, start) -> x_adv`` against
a model's `robust_tickets.models.backend.Backend` (autograd for any model, hand-written passes
for the paper's MLP): x holds the backend's prepared inputs, `start` is the backend's forward at
x when the caller has one (the training step and the evaluation do), and the result is not yet
clipped. Registering it with `@attack` makes an `Attack`: called as ``attack(model, x, y, config,
generator)`` it puts the model in eval mode (restoring its mode after), never touches parameter
``.grad`` fields (backends differentiate w.r.t. the input alone), and returns the detached result
clipped to [0, 1] in x's shape.

Each attack declares the settings of `AttackConfig` it reads (``uses``): a run's identity ignores
the others, so two FGSM runs differing only in ``steps`` are one run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import nn

from robust_tickets.config import AttackConfig
from robust_tickets.models.backend import Backend, Forward, backend_of, ce_grad
from robust_tickets.registry import Registry

INPUT_MIN, INPUT_MAX = 0.0, 1.0

# an attack's random source: one generator, or one per stacked ticket (training/multi_step.py)
Generators = torch.Generator | Sequence[torch.Generator] | None


class AttackCore(Protocol):
    def __call__(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        config: AttackConfig,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        """x: prepared inputs [N, ...] (or [T, N, ...] for T stacked tickets, with one generator
        per ticket); start: `backend.forward(x)` if the caller has it; returns the unclipped
        adversarial inputs, shaped like x."""
        ...


class Attack:
    """A registered attack (see the module docstring)."""

    def __init__(
        self,
        name: str,
        core: AttackCore,
        uses: tuple[str, ...],
        reuses_start: Callable[[AttackConfig], bool],
    ) -> None:
        self.name = self.__name__ = name
        self.core, self.uses = core, uses
        self.__doc__ = core.__doc__
        self._reuses_start = reuses_start

    def reuses_start(self, config: AttackConfig) -> bool:
        """Whether the attack's first gradient is taken at x itself, so a caller that has
        the forward pass at x should pass it as `start` (and keep its graph)."""
        return self._reuses_start(config)

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        config: AttackConfig,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            backend = backend_of(model)
            prepared = backend.prepare(x.detach())
            x_adv = self.core(backend, prepared, y, config, generator, None)
        finally:
            model.train(was_training)
        return x_adv.detach().view(x.shape).clamp_(INPUT_MIN, INPUT_MAX)


ATTACKS: Registry[Attack] = Registry("attack")


def attack(
    name: str,
    *,
    uses: tuple[str, ...],
    reuses_start: Callable[[AttackConfig], bool],
    aliases: tuple[str, ...] = (),
) -> Callable[[AttackCore], Attack]:
    """Register an attack core under `name` (see the module docstring)."""

    def decorator(core: AttackCore) -> Attack:
        wrapped = Attack(name, core, ("attack", *uses), reuses_start)
        ATTACKS.register(name, aliases=aliases)(wrapped)
        return wrapped

    return decorator


def uniform(x: torch.Tensor, generator: Generators) -> torch.Tensor:
    """U[0, 1) noise shaped like x, drawn in x's element order (so an attack draws the same noise
    on a backend's flat inputs as on images). With one generator per stacked ticket
    (x: [T, N, ...]) row t is what `generator[t]` would give that ticket alone."""
    if generator is None or isinstance(generator, torch.Generator):
        return torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if len(generator) != x.shape[0]:
        raise ValueError(f"{len(generator)} generators for {x.shape[0]} stacked tickets")
    noise = torch.empty_like(x)
    for row, g in zip(noise, generator, strict=True):
        torch.rand(row.shape, generator=g, dtype=x.dtype, device=x.device, out=row)
    return noise


def labels_for_attack(config: AttackConfig, y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The labels an attack should move away from: the true ones, or the model's predictions
    (`attack_labels: predicted`, which keeps FGSM training from leaking the label)."""
    return y if config.attack_labels == "true" else logits.detach().argmax(-1)


def loss_input_grad(
    backend: Backend,
    x: torch.Tensor,
    y: torch.Tensor,
    start: Forward | None = None,
    one_hot: torch.Tensor | None = None,
) -> torch.Tensor:
    """d(sum of cross-entropy)/dx at prepared inputs x (reusing `start` = the forward at x).

    An attack that takes many gradients for the same `y` can pass ``one_hot`` (y as a float
    one-hot matrix, made once): d(CE)/d(logits) is then one subtraction."""
    fwd = start if start is not None else backend.forward(x)
    if one_hot is None:
        return backend.input_grad(fwd, ce_grad(fwd.logits, y))
    return backend.input_grad(fwd, torch.softmax(fwd.logits.detach(), -1).sub_(one_hot))


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d(sum of cross-entropy)/dx for any model (x in its natural shape)."""
    backend = backend_of(model)
    return loss_input_grad(backend, backend.prepare(x.detach()), y).view(x.shape)
