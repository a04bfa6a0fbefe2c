"""The training objective, written once: natural forward -> attack labels -> attack (clamped by
the attack) -> adversarial forward -> the loss.

Every stepper and the evaluation during training (`evaluate_split`) take the adversarial batch
from `Objective.attack_inputs` and the cross-entropy from `Objective.cross_entropy` (its
label smoothing and `loss_form`). The loss is a weighted sum of the mean cross-entropies of
the natural and the adversarial batch: `loss` for steppers that differentiate with autograd;
`row_scales` (each row's weight in d(loss)/d(logits)) for steppers that write their backward
pass by hand (the MLP's), which take the logit gradient of `cross_entropy`'s form themselves.

Registered objectives: `natural` (the natural batch alone) and `mixed` (the paper's: half
natural, half adversarial). Madry et al.'s all-adversarial loss is `mixed` with weights 0
and 1; TRADES (a KL term, and an attack on it) would override `loss` and `attack_inputs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

import torch

from robust_tickets.attacks import ATTACKS, BackendAttack
from robust_tickets.attacks.base import Generators
from robust_tickets.config import ExperimentConfig
from robust_tickets.models.backend import Backend, Forward
from robust_tickets.registry import Registry
from robust_tickets.training.losses import cross_entropy


class Objective:
    """natural_weight * CE(natural) + adversarial_weight * CE(adversarial), each CE the mean
    over its batch, label-smoothed by `smoothing`, in form `form` (`losses.LOSS_FORMS`).

    Used as it is (weights 1 and 0, with an attack) it gives evaluation its attack step and
    cross-entropy."""

    name: ClassVar[str] = ""
    natural_weight: ClassVar[float] = 1.0
    adversarial_weight: ClassVar[float] = 0.0

    def __init__(
        self, attack: BackendAttack | None, *, smoothing: float = 0.0, form: str = "logits"
    ) -> None:
        if self.adversarial_weight > 0 and attack is None:
            raise ValueError(f"the {self.name} objective needs an attack")
        self.attack, self.smoothing, self.form = attack, smoothing, form

    @property
    def adversarial(self) -> bool:
        """Whether the loss has an adversarial term (a stepper then attacks every batch)."""
        return self.adversarial_weight > 0

    def cross_entropy(
        self, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean"
    ) -> torch.Tensor:
        return cross_entropy(
            logits, y, smoothing=self.smoothing, form=self.form, reduction=reduction
        )

    def attack_inputs(
        self,
        backend: Backend,
        x: torch.Tensor,
        y: torch.Tensor,
        logits: torch.Tensor,
        generator: Generators,
        start: Forward | None = None,
    ) -> torch.Tensor:
        """The adversarial batch of prepared inputs x, in [0, 1]: the attack moves away from the
        labels it chooses from the natural `logits` (true or predicted), its first gradient
        taken on `start` (the natural forward at x) when given and the attack starts at x."""
        if self.attack is None:
            raise ValueError(f"the {self.name} objective has no attack")
        labels = self.attack.labels(y, logits)
        return self.attack.on_backend(backend, x, labels, generator, start)

    def loss(
        self,
        natural_logits: torch.Tensor,
        adversarial_logits: torch.Tensor | None,
        y: torch.Tensor,
    ) -> torch.Tensor:
        """The loss of one batch (`adversarial_logits` None for an objective without one)."""
        natural = self.cross_entropy(natural_logits, y)
        if not self.adversarial:
            return natural
        if adversarial_logits is None:
            raise ValueError(f"the {self.name} objective needs the adversarial logits")
        adversarial = self.cross_entropy(adversarial_logits, y)
        return self.natural_weight * natural + self.adversarial_weight * adversarial

    def row_scales(self, n: int) -> tuple[float, float]:
        """The weight of each natural and each adversarial row of a batch of n in the loss: the
        factor of its per-row cross-entropy gradient."""
        return self.natural_weight / n, self.adversarial_weight / n


OBJECTIVES: Registry[type[Objective]] = Registry("training objective")

Kind = TypeVar("Kind", bound=type[Objective])


def register(name: str) -> Callable[[Kind], Kind]:
    """Register an `Objective` subclass under `name`."""

    def decorator(cls: Kind) -> Kind:
        cls.name = name
        OBJECTIVES.register(name)(cls)
        return cls

    return decorator


@register("natural")
class Natural(Objective):
    """The natural batch's cross-entropy alone (natural training)."""


@register("mixed")
class Mixed(Objective):
    """The paper's: 0.5 * CE(natural) + 0.5 * CE(adversarial)."""

    natural_weight = 0.5
    adversarial_weight = 0.5


def objective_for(config: ExperimentConfig, attack: type[BackendAttack] | None = None) -> Objective:
    """The run's objective: `mixed` with its attack (`attack`, default the config's, built with
    the config's settings) when it trains adversarially, else `natural`."""
    t = config.train
    if not t.adv_train:
        return Natural(None, smoothing=config.data.label_smoothing, form=t.loss_form)
    kind = attack if attack is not None else ATTACKS.cls(config.attack.attack)
    return Mixed(
        kind.from_config(config.attack), smoothing=config.data.label_smoothing, form=t.loss_form
    )
