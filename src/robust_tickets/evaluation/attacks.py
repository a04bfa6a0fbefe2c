"""Evaluation attacks: named presets over the one `Attack` type, fully specified at an eps.

Training uses one cheap attack; evaluation must use strong ones. Each preset makes, for one eps
(and the training run's settings, `AttackContext`), an `robust_tickets.attacks.Attack`, the
same type training uses: the project's FGSM/PGD/N-FGSM/FGSM-RS (`robust_tickets.attacks`),
composed where a suite needs it (`Restarts`, `Transfer`, `ChosenLabels`), or a library-backed
one: AutoAttack and its parts (APGD, APGD-T, FAB-T, Square) from fra31/auto-attack's attack code
as repackaged in `pyautoattack` (`evaluation.autoattack`), with the "standard" version's
parameters; torchattacks is optional: its FGSM/PGD cross-check ours and `ta-autoattack` is the
previous, torchattacks-built AutoAttack, kept for comparison.

A preset is a component (`robust_tickets.components`): an `EvalPreset` subclass registered in
`EVAL_ATTACKS` with a `name`, a `kind` and, if it has a strength of its own, a nested frozen
`Params` whose settings' flat names are `evaluate`'s flags (`pgd-restarts` owns ``steps`` and
``restarts``, the flags ``--pgd-steps`` and ``--pgd-restarts``; ``transfer`` shares them).
It is built with its params (`presets(settings)` builds every preset with the settings it owns
among an evaluation's) and reads ``self.params``; `summary` is what its stored entries are keyed
by beside its name. A suite composes its members' params (`suite_params`): `autoattack` owns
``apgd_steps``, ``fab_steps`` and ``square_queries`` because its parts do. A preset without
settings of its own (a fixed strength, or the training run's: `AttackContext.trained`) is a
function::

    @eval_preset("my-attack", kind="white-box", summary=lambda ctx: {"steps": 7})
    def my_attack(eps, ctx):
        return PGD(PGD.Params(step_size=eps / 4, steps=7), eps=eps)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from robust_tickets import limits
from robust_tickets.attacks import ATTACKS, Attack, ChosenLabels, Restarts, Transfer, make_attack
from robust_tickets.attacks.base import project
from robust_tickets.attacks.fgsm import FGSM
from robust_tickets.attacks.pgd import PGD
from robust_tickets.components import Component, ComponentRegistry, Params, Spec, setting
from robust_tickets.config import DATASET_DEFAULTS, AttackConfig
from robust_tickets.errors import UserError
from robust_tickets.evaluation import autoattack
from robust_tickets.evaluation.library import TorchAttack

AttackFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
KINDS = ("white-box", "black-box", "transfer", "ensemble")


@dataclass(frozen=True)
class AttackContext:
    """What a preset may need besides eps and its own params: the training run's attack and
    dataset, the number of classes, the surrogate of a transfer attack."""

    num_classes: int
    train_attack: AttackConfig = field(default_factory=AttackConfig)
    surrogate: nn.Module | None = None  # the dense network transfer attacks craft examples on
    dataset: str = ""  # the training run's: its threat model's defaults (`trained`)

    def trained(self, name: str) -> Params:
        """Attack `name`'s settings as the training run had them: the training attack's own if
        it is `name`, else `name`'s defaults on the run's dataset (CIFAR-10's PGD step 2/255),
        which is what an evaluation of any run at the training settings uses."""
        spec = self.train_attack.attack
        if spec.params is not None and ATTACKS.canonical(spec.name) == ATTACKS.canonical(name):
            return spec.params
        return ATTACKS.spec(name, DATASET_DEFAULTS.get(self.dataset, {})).params


class EvalPreset(Component):
    """A named evaluation attack, built with its params: `make(eps, ctx)` is its `Attack` at
    eps; `summary(ctx)` what its stored entries name beside it (their resume key: it must not
    change for the same settings, or stored results would be attacked again)."""

    kind: ClassVar[str]
    seed_group: ClassVar[str]  # presets in one group get the same seeds, hence the same start
    library: ClassVar[bool] = False  # needs torchattacks
    # an example counts only if its clean prediction is right too (robust accuracy); False
    # for the paper's measure, which counts every attacked prediction that is right
    clean_required: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return
        if cls.kind not in KINDS:
            raise TypeError(f"{cls.__name__}.kind must be one of {KINDS}")
        if "seed_group" not in cls.__dict__:
            cls.seed_group = cls.name

    @property
    def description(self) -> str:
        """The first line of its docstring (`evaluate --list-attacks`)."""
        return (type(self).__doc__ or "").strip().splitlines()[0]

    def make(self, eps: float, ctx: AttackContext) -> Attack:
        raise NotImplementedError

    def summary(self, ctx: AttackContext) -> dict[str, Any]:
        return {}

    def param_string(self, ctx: AttackContext) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.summary(ctx).items()))

    def build(self, model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
        """``(x, y, seed) -> x_adv``: the attack at eps on `model`, its generator seeded, its
        result projected onto the threat model (the eps-ball in [0, 1]: N-FGSM's training
        perturbation, for one, leaves the ball)."""
        attack = self.make(eps, ctx)

        def run(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
            generator = torch.Generator(device=x.device).manual_seed(seed)
            return project(attack(model, x, y, generator), x, eps)

        return run


EVAL_ATTACKS: ComponentRegistry[EvalPreset] = ComponentRegistry("evaluation attack")


def presets(settings: Mapping[str, Any] | None = None) -> dict[str, EvalPreset]:
    """Every evaluation attack by name, each built with the settings it owns among `settings`
    (flat names, `evaluate`'s flags: ``{"pgd_steps": 20}`` sets `pgd-restarts`' and
    `transfer`'s steps); the others keep their defaults. A setting no preset owns, or a value
    one cannot run with, is a one-line UserError."""
    settings = dict(settings or {})
    known = {flat for flat, _, _ in EVAL_ATTACKS.settings()}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise UserError(
            f"no evaluation attack has the setting {', '.join(unknown)}: they have "
            f"{', '.join(sorted(known))}"
        )
    return {name: EVAL_ATTACKS.get(EVAL_ATTACKS.spec(name, settings)) for name in EVAL_ATTACKS}


def preset(name: str, settings: Mapping[str, Any] | None = None) -> EvalPreset:
    """Evaluation attack `name` (or an alias), built as `presets` builds it."""
    return presets(settings)[EVAL_ATTACKS.canonical(name)]


def eval_preset(
    name: str,
    *,
    kind: str,
    summary: Callable[[AttackContext], dict[str, Any]] = lambda ctx: {},
    seed_group: str | None = None,
    aliases: tuple[str, ...] = (),
    library: bool = False,
    clean_required: bool = True,
) -> Callable[[Callable[[float, AttackContext], Attack]], type[EvalPreset]]:
    """Register ``make(eps, ctx) -> Attack`` as evaluation attack `name`: a preset without
    settings of its own (its strength fixed, or the training run's), whose stored entries
    name `summary(ctx)`. A preset with settings is an `EvalPreset` subclass with a `Params`."""

    def decorator(make: Callable[[float, AttackContext], Attack]) -> type[EvalPreset]:
        cls = type(
            f"Preset_{name.replace('-', '_')}",
            (EvalPreset,),
            {
                "__doc__": make.__doc__,
                "__module__": make.__module__,
                "name": name,
                "aliases": aliases,
                "kind": kind,
                "seed_group": seed_group or name,
                "library": library,
                "clean_required": clean_required,
                "make": lambda self, eps, ctx: make(eps, ctx),
                "summary": lambda self, ctx: summary(ctx),
            },
        )
        return EVAL_ATTACKS.add(cls)

    return decorator


# ---- suites: a preset made of others owns their settings -----------------------------------
@dataclass(frozen=True)
class SuiteParams(Params):
    """A suite's params: each setting of its `members` once, by its flat name (APGD-CE's and
    APGD-T's ``apgd_steps`` are one), with the member's default, help and checks."""

    members: ClassVar[tuple[type[EvalPreset], ...]] = ()

    def member(self, cls: type[EvalPreset]) -> Params:
        """Member `cls`'s params, at the suite's values of its settings."""
        names = cls.Params.flat_names
        return cls.Params(**{f.name: getattr(self, names[f.name]) for f in fields(cls.Params)})

    def validate(self) -> None:
        for cls in self.members:
            self.member(cls).validate()


def suite_params(*members: type[EvalPreset]) -> type[SuiteParams]:
    """The `Params` of a suite of `members`: their settings, each once (see `SuiteParams`)."""
    settings: dict[str, tuple[str, type, Any]] = {}
    for cls in members:
        for f in fields(cls.Params):
            flat = cls.Params.flat_names[f.name]
            if flat in settings:
                if settings[flat][2].default != f.default:
                    raise TypeError(f"{flat}: the members of a suite disagree on its default")
                continue
            settings[flat] = (
                flat,
                type(f.default),
                setting(f.default, f.metadata["help"], flat=flat),
            )
    return dataclasses.make_dataclass(
        "Params",
        list(settings.values()),
        bases=(SuiteParams,),
        frozen=True,
        namespace={"members": members, "__module__": __name__},
    )


class Suite(EvalPreset):
    """A preset made of other presets (its `Params` from `suite_params`): `parts` are its
    members, built with its params."""

    params: SuiteParams

    def parts(self) -> list[EvalPreset]:
        return [cls(self.params.member(cls)) for cls in self.params.members]


# ---- the project's own attacks ------------------------------------------------------------
@eval_preset("fgsm", kind="white-box")
def _fgsm(eps: float, ctx: AttackContext) -> Attack:
    """The project's FGSM."""
    return FGSM(eps=eps)


def _as_trained(name: str, eps: float, ctx: AttackContext) -> Attack:
    """Attack `name` at `eps` with the training run's settings of it (multiples of eps)."""
    return ATTACKS.get(Spec(name, ctx.trained(name)), eps=eps)


@eval_preset("fgsm-rs", kind="white-box", summary=lambda ctx: {"step": ctx.trained("fgsm-rs").step})
def _fgsm_rs(eps: float, ctx: AttackContext) -> Attack:
    """The project's FGSM from a random start (step = fgsm_rs_step x eps, as in training)."""
    return _as_trained("fgsm-rs", eps, ctx)


def _nfgsm_summary(ctx: AttackContext) -> dict[str, Any]:
    p = ctx.trained("nfgsm")
    return {"noise": p.noise, "step": p.step}


@eval_preset("nfgsm", kind="white-box", summary=_nfgsm_summary)
def _nfgsm(eps: float, ctx: AttackContext) -> Attack:
    """The project's N-FGSM as in training (noise, step), projected onto the eps-ball.

    N-FGSM's training perturbation may leave the ball; like every preset's, its result is
    projected onto the ball (`EvalPreset.build`)."""
    return _as_trained("nfgsm", eps, ctx)


def _trained_pgd(ctx: AttackContext) -> PGD:
    """PGD with the training run's steps and step size, at its eps, from a random start."""
    params = dataclasses.replace(ctx.trained("pgd"), random_start=True)
    return PGD(params, eps=ctx.train_attack.eps)


@eval_preset("pgd", kind="white-box", summary=lambda ctx: _trained_pgd(ctx).summary())
def _pgd(eps: float, ctx: AttackContext) -> Attack:
    """The project's PGD as in training (its steps; step = eps * step_size/eps of training)."""
    return _trained_pgd(ctx).at(eps)


def _paper_summary(ctx: AttackContext) -> dict[str, Any]:
    train = ctx.train_attack
    summary = make_attack(train).summary()  # PGD's steps and step (a fraction of eps)
    return {"attack": train.attack.name, "labels": train.attack_labels, **summary}


@eval_preset("paper", kind="white-box", summary=_paper_summary, clean_required=False)
def _paper(eps: float, ctx: AttackContext) -> Attack:
    """The paper's measure: the training attack on the model's own labels, counting every
    attacked prediction that is right (whatever the clean one was), as training evaluates."""
    return ChosenLabels(make_attack(ctx.train_attack).at(eps))  # a PGD step keeps its ratio


def restarted_pgd(eps: float, steps: int, restarts: int) -> Attack:
    """PGD from `restarts` random starts, step 2.5*eps/steps (Madry et al.), keeping for each
    example the first start that fools the model (later starts only run on the survivors)."""
    params = PGD.Params(step_size=2.5 * eps / steps, steps=steps, random_start=True)
    return Restarts(PGD(params, eps=eps), restarts)


def _count(params: Params, name: str, high: int = limits.MAX_STEPS) -> None:
    """A count setting (steps, restarts, queries) must be in [1, high]."""
    value = getattr(params, name)
    params.require(value >= 1, name, "must be at least 1")
    params.require(value <= high, name, f"must be at most {high:,}")


@EVAL_ATTACKS.add
class RestartedPGD(EvalPreset):
    """The project's PGD, many steps and random restarts, worst case per example."""

    name = "pgd-restarts"
    aliases = ("pgd-strong",)
    kind = "white-box"

    # Madry et al.'s: 40 steps of 2.5*eps/40, 5 random starts
    @dataclass(frozen=True)
    class Params(Params):
        steps: int = setting(40, "PGD steps of `pgd-restarts` and `transfer`", flat="pgd_steps")
        restarts: int = setting(
            5, "random starts of `pgd-restarts` and `transfer`", flat="pgd_restarts"
        )

        def validate(self) -> None:
            _count(self, "steps")
            _count(self, "restarts")

    params: RestartedPGD.Params

    def make(self, eps: float, ctx: AttackContext) -> Attack:
        return restarted_pgd(eps, self.params.steps, self.params.restarts)

    def summary(self, ctx: AttackContext) -> dict[str, Any]:
        return {"steps": self.params.steps, "restarts": self.params.restarts}


@EVAL_ATTACKS.add
class TransferPGD(RestartedPGD):
    """pgd-restarts crafted on the dense (level 0) network of the same trial."""

    # pgd-restarts' params (its flags, and its summary: the stored parameters of before)
    name = "transfer"
    aliases = ()
    kind = "transfer"

    def make(self, eps: float, ctx: AttackContext) -> Attack:
        if ctx.surrogate is None:
            raise ValueError("the transfer attack needs a surrogate model")
        return Transfer(super().make(eps, ctx), ctx.surrogate)


# ---- torchattacks (optional: cross-checks of the project's attacks) --------------------------
@eval_preset("ta-fgsm", kind="white-box", library=True, seed_group="fgsm")
def _ta_fgsm(eps: float, ctx: AttackContext) -> Attack:
    """torchattacks' FGSM (cross-check of the project's)."""
    return TorchAttack(lambda ta, model, seed: ta.FGSM(model, eps=eps))


@eval_preset(
    "ta-pgd",
    kind="white-box",
    library=True,
    summary=lambda ctx: _trained_pgd(ctx).summary(),
    seed_group="pgd",
)
def _ta_pgd(eps: float, ctx: AttackContext) -> Attack:
    """torchattacks' PGD with the settings and random start of `pgd` (cross-check)."""
    p = _trained_pgd(ctx).at(eps).params
    return TorchAttack(
        lambda ta, model, seed: ta.PGD(
            model, eps=eps, alpha=p.step_size, steps=p.steps, random_start=True
        )
    )


# ---- AutoAttack and its parts: fra31's attack code, as repackaged in pyautoattack ----------
class AutoAttackPart(EvalPreset):
    """One attack of AutoAttack run alone (its name is pyautoattack's), at its own strength;
    its stored parameters end in the implementation and its version (`impl=`)."""

    def strength(self) -> dict[str, int]:
        """Its settings as `autoattack.AutoAttack`'s keywords (``apgd_steps=100``)."""
        raise NotImplementedError

    def stored(self) -> dict[str, int]:
        """Its settings as its stored entries name them (``queries=5000``)."""
        raise NotImplementedError

    def make(self, eps: float, ctx: AttackContext) -> Attack:
        return autoattack.AutoAttack(
            eps, num_classes=ctx.num_classes, attacks=(self.name,), **self.strength()
        )

    def summary(self, ctx: AttackContext) -> dict[str, Any]:
        return {**self.stored(), "impl": autoattack.implementation()}


@EVAL_ATTACKS.add
class APGDCE(AutoAttackPart):
    """AutoAttack's APGD, cross-entropy loss."""

    name = "apgd-ce"
    kind = "white-box"

    # one setting for the three APGD attacks (`apgd-dlr` and `apgd-t` are this class's)
    @dataclass(frozen=True)
    class Params(Params):
        steps: int = setting(100, "steps of APGD-CE, APGD-DLR and APGD-T", flat="apgd_steps")

        def validate(self) -> None:
            _count(self, "steps")

    params: APGDCE.Params

    def strength(self) -> dict[str, int]:
        return {"apgd_steps": self.params.steps}

    def stored(self) -> dict[str, int]:
        return {"apgd_steps": self.params.steps}


@EVAL_ATTACKS.add
class APGDDLR(APGDCE):
    """AutoAttack's APGD, DLR loss."""

    name = "apgd-dlr"


@EVAL_ATTACKS.add
class APGDT(APGDCE):
    """AutoAttack's targeted APGD-DLR, 9 targets."""

    name = "apgd-t"


@EVAL_ATTACKS.add
class FABT(AutoAttackPart):
    """AutoAttack's targeted FAB, 9 targets."""

    name = "fab-t"
    kind = "white-box"

    @dataclass(frozen=True)
    class Params(Params):
        steps: int = setting(100, "steps of FAB-T", flat="fab_steps")

        def validate(self) -> None:
            _count(self, "steps")

    params: FABT.Params

    def strength(self) -> dict[str, int]:
        return {"fab_steps": self.params.steps}

    def stored(self) -> dict[str, int]:
        return {"fab_steps": self.params.steps}


@EVAL_ATTACKS.add
class SquareAttack(AutoAttackPart):
    """AutoAttack's Square: score-based, no gradients."""

    name = "square"
    kind = "black-box"

    @dataclass(frozen=True)
    class Params(Params):
        queries: int = setting(5000, "queries of Square")  # flat: square_queries

        def validate(self) -> None:
            _count(self, "queries", limits.MAX_QUERIES)

    params: SquareAttack.Params

    def strength(self) -> dict[str, int]:
        return {"square_queries": self.params.queries}

    def stored(self) -> dict[str, int]:
        return {"queries": self.params.queries}


@EVAL_ATTACKS.add
class AutoAttackStandard(Suite):
    """AutoAttack standard (fra31/auto-attack): APGD-CE, APGD-T, FAB-T, Square, per example."""

    name = "autoattack"
    aliases = ("aa",)
    kind = "ensemble"
    Params = suite_params(APGDCE, APGDT, FABT, SquareAttack)  # autoattack.STANDARD's order

    def make(self, eps: float, ctx: AttackContext) -> Attack:
        parts = self.parts()
        strength = {k: v for part in parts for k, v in part.strength().items()}
        attacks = tuple(part.name for part in parts)
        return autoattack.AutoAttack(eps, num_classes=ctx.num_classes, attacks=attacks, **strength)

    def summary(self, ctx: AttackContext) -> dict[str, Any]:
        return {k: v for part in self.parts() for k, v in part.summary(ctx).items()}


# ---- the previous AutoAttack, from torchattacks (optional; cross-checks) --------------------
@EVAL_ATTACKS.add
class TorchAutoAttack(Suite):
    """The previous AutoAttack: torchattacks' APGD-CE, APGD-T, FAB-T, Square (MultiAttack)."""

    name = "ta-autoattack"
    kind = "ensemble"
    library = True
    Params = suite_params(APGDCE, APGDT, FABT, SquareAttack)

    def summary(self, ctx: AttackContext) -> dict[str, Any]:  # stored without impl=
        return {k: v for part in self.parts() for k, v in part.stored().items()}

    def make(self, eps: float, ctx: AttackContext) -> Attack:
        apgd_steps = self.params.member(APGDCE).steps
        fab_steps = self.params.member(FABT).steps
        queries = self.params.member(SquareAttack).queries
        n = ctx.num_classes

        def make(ta: Any, model: nn.Module, seed: int) -> object:
            return ta.MultiAttack(
                [
                    ta.APGD(model, norm="Linf", eps=eps, steps=apgd_steps, seed=seed, loss="ce"),
                    ta.APGDT(model, norm="Linf", eps=eps, steps=apgd_steps, seed=seed, n_classes=n),
                    ta.FAB(
                        model,
                        norm="Linf",
                        eps=eps,
                        steps=fab_steps,
                        seed=seed,
                        multi_targeted=True,
                        n_classes=n,
                    ),
                    ta.Square(model, norm="Linf", eps=eps, n_queries=queries, seed=seed),
                ]
            )

        return TorchAttack(make)
