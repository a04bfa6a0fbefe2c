"""The one attack type of training and evaluation.

`Attack` is what every attack is, torchattacks' shape: ``attack(model, x, y, generator) ->
x_adv``. The base does what they all share: it puts the model in eval mode and restores its
mode after, stops the parameters requiring gradients meanwhile (so no attack, ours or a
library's, ever fills a ``.grad``), and returns the result detached and clamped to [0, 1] in
x's shape. A subclass writes only `run`, the attack on a model already in eval mode.

`BackendAttack` is an attack written once against a model's
`robust_tickets.models.backend.Backend` (autograd for any model, hand-written passes for the
paper's MLP): its `perturb` is the maths, and `on_backend` (perturb, then clamp) is what
training and `evaluate_split` call on the prepared inputs they already have, passing their
natural forward as `start` when the attack's first gradient is taken at x (`reuses_start`).
It is a component (`robust_tickets.components`): registered with `@ATTACKS.add`, it owns its
settings in a nested frozen `Params` (PGD's steps, N-FGSM's noise), which a run's config holds
as the spec ``attack: {name, params}``, and it is built with them and the run-wide radius and
label choice: ``PGD(PGD.Params(steps=7), eps=0.1)``, or `make_attack(config.attack)` for a
run's training attack. Its cost is `passes`.

Attacks made of other attacks (restarts, transfer, the model's own labels) and the library
attacks of `robust_tickets.evaluation` are plain `Attack`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from robust_tickets.components import Component, ComponentRegistry, Params
from robust_tickets.config import AttackConfig
from robust_tickets.models.backend import Backend, Forward, backend_of, ce_grad

INPUT_MIN, INPUT_MAX = 0.0, 1.0

# an attack's random source: one generator, or one per stacked ticket (training/multi_step.py)
Generators = torch.Generator | Sequence[torch.Generator] | None


class Attack:
    """An attack on a model (see the module docstring): call it as
    ``x_adv = attack(model, x, y, generator)``; x: inputs in [0, 1] [N, ...], y: labels [N]."""

    name: ClassVar[str] = ""

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        was_training = model.training
        frozen = [p for p in model.parameters() if p.requires_grad]
        model.eval()
        for p in frozen:  # input gradients only: no .grad filled, no weight gradients paid for
            p.requires_grad_(False)
        try:
            x_adv = self.run(model, x.detach(), y, generator)
        finally:
            for p in frozen:
                p.requires_grad_(True)
            model.train(was_training)
        return x_adv.detach().view(x.shape).clamp_(INPUT_MIN, INPUT_MAX)

    def run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """The attack on `model` (in eval mode); may return points outside [0, 1]."""
        raise NotImplementedError


class BackendAttack(Attack, Component):
    """An attack written against a `Backend`, owning its settings (module docstring).

    eps: the L-inf radius; labels: which labels `labels()` gives a caller that asks (the
    objective, `ChosenLabels`): the `true` ones or the model's `predicted` ones."""

    def __init__(self, params: Params | None = None, *, eps: float, labels: str = "true") -> None:
        super().__init__(params)
        self.eps, self.attack_labels = eps, labels

    @classmethod
    def from_config(cls, config: AttackConfig) -> BackendAttack:
        """This attack as a run's `config` sets it: its params (the defaults if the config is
        not resolved yet), the run's eps and labels. `config` must choose this attack."""
        spec = config.attack
        if spec.params is not None and type(spec.params) is not cls.Params:
            raise ValueError(f"the config chooses attack {spec.name!r}, not {cls.name!r}")
        return cls(spec.params, eps=config.eps, labels=config.attack_labels)

    def at(self, eps: float) -> BackendAttack:
        """The same attack at radius `eps`: settings in multiples of eps keep their ratio, and
        so do those given in absolute units (`scaled`), as evaluation at other radii needs."""
        return type(self)(self.scaled(eps), eps=eps, labels=self.attack_labels)

    def scaled(self, eps: float) -> Params:
        """The params at radius `eps`: as they are, unless a setting is in absolute units."""
        return self.params

    def summary(self) -> dict[str, Any]:
        """What `evaluate` records of the settings beside its name (the paper's measure's
        parameters, hence its stored entries' keys): none unless an attack says otherwise."""
        return {}

    @property
    def reuses_start(self) -> bool:
        """Whether the first gradient is taken at x itself, so a caller that has the forward
        pass at x should pass it as `start` (and keep its graph)."""
        return False

    @property
    def passes(self) -> int:
        """Gradient passes per example (the attack's cost, for estimates)."""
        return 1

    def labels(self, y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """The labels to move away from: the true ones, or the model's predictions from its
        natural `logits` (`attack_labels: predicted`, which keeps FGSM training from leaking
        the label)."""
        return y if self.attack_labels == "true" else logits.detach().argmax(-1)

    def perturb(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: Generators,
        start: Forward | None,
    ) -> torch.Tensor:
        """The attack's maths on prepared inputs x ([N, ...], or [T, N, ...] for T stacked
        tickets with one generator each); `start`: `backend.forward(x)` if the caller has it.
        Returns a new tensor shaped like x, possibly outside [0, 1]."""
        raise NotImplementedError

    def on_backend(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: Generators = None,
        start: Forward | None = None,
    ) -> torch.Tensor:
        """`perturb`, detached and clamped to [0, 1] (in place: perturb's tensor is its own).
        The caller sets the model's mode (training shares its natural forward)."""
        return self.perturb(backend, x, y, generator, start).detach().clamp_(INPUT_MIN, INPUT_MAX)

    def run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        backend = backend_of(model)
        return self.on_backend(backend, backend.prepare(x), y, generator)


ATTACKS: ComponentRegistry[BackendAttack] = ComponentRegistry("attack")


def make_attack(config: AttackConfig) -> BackendAttack:
    """The training attack `config` chooses, with its settings, eps and labels."""
    return ATTACKS.cls(config.attack).from_config(config)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Nearest point of the L-inf eps-ball around x that lies in [0, 1]."""
    lower = (x - eps).clamp(min=INPUT_MIN)
    upper = (x + eps).clamp(max=INPUT_MAX)
    return torch.maximum(torch.minimum(x_adv, upper), lower)


def seed_of(generator: torch.Generator | None) -> int:
    """An integer seed for code that seeds itself (libraries): the generator's initial seed."""
    return 0 if generator is None else generator.initial_seed()


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
