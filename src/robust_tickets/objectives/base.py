"""What a training objective is: the training loss, written once, a component owning its settings.

natural forward -> attack labels -> attack (clamped by the attack) -> adversarial forward -> the
loss. Every stepper and the evaluation during training (`training.evaluate_split`) take the
adversarial batch from `Objective.attack_inputs` and the cross-entropy from
`Objective.cross_entropy` (its label smoothing and `loss_form`). Most objectives are a weighted
sum of the mean cross-entropies of the natural and the adversarial batch: `loss` for steppers
that differentiate with autograd; `row_scales` (each row's weight in d(loss)/d(logits)) for
steppers that write their backward pass by hand (the MLP's), which take the logit gradient of
`cross_entropy`'s form themselves. An objective that is no such sum (TRADES: a KL term) says so
(`row_weighted = False`) and trains through autograd.

The run chooses one with `objective` (`TrainConfig.objective`); `adv_train` without one means
`mixed` (the paper's), so configs written before objectives were chosen keep their meaning.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from robust_tickets.attacks import ATTACKS, BackendAttack
from robust_tickets.attacks.base import Generators
from robust_tickets.components import Component, ComponentRegistry
from robust_tickets.config import ExperimentConfig
from robust_tickets.models.backend import Backend, Forward
from robust_tickets.objectives.losses import cross_entropy


class Objective(Component):
    """natural_weight * CE(natural) + adversarial_weight * CE(adversarial), each CE the mean
    over its batch, label-smoothed by `smoothing`, in form `form` (`losses.LOSS_FORMS`).

    Built with its params and, for training, the run's attack (`objective_for`). Used as it is
    (no name, weights 1 and 0, with an attack) it gives evaluation its attack step and
    cross-entropy."""

    name: ClassVar[str] = ""
    natural_weight: ClassVar[float] = 1.0
    adversarial_weight: ClassVar[float] = 0.0
    # whether every batch is attacked for the loss (and so whether the run trains adversarially)
    adversarial: ClassVar[bool] = False
    # whether the loss is a per-row weighted cross-entropy (`row_scales`): the MLP's own steppers
    # can only take such a loss; the others train through autograd
    row_weighted: ClassVar[bool] = True
    # the attack whose settings the objective reads itself (TRADES's KL attack takes PGD's
    # step_size and steps), or None: any training attack does
    attack_needed: ClassVar[str | None] = None

    def __init__(
        self,
        params: Any = None,
        *,
        attack: BackendAttack | None = None,
        smoothing: float = 0.0,
        form: str = "logits",
    ) -> None:
        super().__init__(params)
        # (built without an attack it still names its settings and spec: resolve uses it so)
        self.attack, self.smoothing, self.form = attack, smoothing, form

    @property
    def needs_natural_forward(self) -> bool:
        """Whether a training step needs the natural batch's logits: for its loss term or for
        the attack's labels. Madry's needs neither, so its step skips that forward, which in
        train mode would also move batch norm's running statistics towards clean images."""
        return self.natural_weight != 0 or not self.row_weighted or self.labels_from_logits

    # whether `attack_labels` reads the natural logits (the predicted-label attacks do)
    labels_from_logits: ClassVar[bool] = True

    @property
    def reuses_start(self) -> bool:
        """Whether `attack_inputs` takes its first gradient at x (a stepper then passes the
        natural forward as `start`, keeping its graph)."""
        return self.attack is not None and self.attack.reuses_start

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
        logits: torch.Tensor | None,
        generator: Generators,
        start: Forward | None = None,
    ) -> torch.Tensor:
        """The adversarial batch of prepared inputs x, in [0, 1]: the attack moves away from the
        labels it chooses from the natural `logits` (true or predicted, `attack_labels`), its
        first gradient taken on `start` (the natural forward at x) when given and the attack
        starts at x."""
        if self.attack is None:
            raise ValueError(f"the {self.name or 'evaluation'} objective has no attack")
        return self.attack.on_backend(backend, x, self.attack_labels(y, logits), generator, start)

    def attack_labels(self, y: torch.Tensor, logits: torch.Tensor | None) -> torch.Tensor:
        """The labels the training attack moves away from: its own choice (`attack_labels`)."""
        assert self.attack is not None
        return self.attack.labels(y, logits)

    def loss(
        self,
        natural_logits: torch.Tensor | None,
        adversarial_logits: torch.Tensor | None,
        y: torch.Tensor,
    ) -> torch.Tensor:
        """The loss of one batch (`adversarial_logits` None for an objective without one,
        `natural_logits` None for one that weighs them 0)."""
        if self.adversarial:
            if adversarial_logits is None:
                raise ValueError(f"the {self.name} objective needs the adversarial logits")
            adversarial = self.cross_entropy(adversarial_logits, y)
            if self.natural_weight == 0:  # Madry's: no natural term at all (not 0 * a NaN)
                return self.adversarial_weight * adversarial
        if natural_logits is None:
            raise ValueError(f"the {self.name} objective needs the natural logits")
        natural = self.cross_entropy(natural_logits, y)
        if not self.adversarial:
            return natural
        return self.natural_weight * natural + self.adversarial_weight * adversarial

    def row_scales(self, n: int) -> tuple[float, float]:
        """The weight of each natural and each adversarial row of a batch of n in the loss: the
        factor of its per-row cross-entropy gradient."""
        if not self.row_weighted:
            raise ValueError(f"the {self.name} objective is no weighted cross-entropy")
        return self.natural_weight / n, self.adversarial_weight / n


OBJECTIVES: ComponentRegistry[Objective] = ComponentRegistry("training objective")


def objective_for(config: ExperimentConfig, attack: type[BackendAttack] | None = None) -> Objective:
    """The run's objective (`config.train.objective`) with its params and, if it attacks, its
    attack (`attack`, default the config's, built with the config's attack settings)."""
    spec, t = config.train.objective, config.train
    cls = OBJECTIVES.cls(spec.name)
    attacker = None
    if cls.adversarial:
        kind = attack if attack is not None else ATTACKS.cls(config.attack.attack)
        attacker = kind.from_config(config.attack)
    smoothing = config.data.label_smoothing
    return cls(spec.params, attack=attacker, smoothing=smoothing, form=t.loss_form)
