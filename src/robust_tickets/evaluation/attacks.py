"""Evaluation attacks: named presets over the one `Attack` type, fully specified at an eps.

Training uses one cheap attack; evaluation must use strong ones. Each preset makes, for one eps
(and the training run's settings, `AttackContext`), an `robust_tickets.attacks.Attack`, the
same type training uses: the project's FGSM/PGD/N-FGSM/FGSM-RS (`robust_tickets.attacks`),
composed where a suite needs it (`Restarts`, `Transfer`, `ChosenLabels`), or a library-backed
one: AutoAttack and its parts (APGD, APGD-T, FAB-T, Square) from fra31/auto-attack's attack code
as repackaged in `pyautoattack` (`evaluation.autoattack`), with the "standard" version's
parameters; torchattacks is optional: its FGSM/PGD cross-check ours and `ta-autoattack` is the
previous, torchattacks-built AutoAttack, kept for comparison.

Add a preset with::

    @eval_preset("my-attack", kind="white-box", params=lambda ctx: {"steps": 7})
    def my_attack(eps, ctx):
        return PGD(PGD.Params(step_size=eps / 4, steps=7), eps=eps)

A project attack is built from its component params (`robust_tickets.attacks`): a fixed
strength as above, or the training run's settings of it (`AttackContext.trained`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from robust_tickets.attacks import ATTACKS, Attack, ChosenLabels, Restarts, Transfer, make_attack
from robust_tickets.attacks.base import project
from robust_tickets.attacks.fgsm import FGSM
from robust_tickets.attacks.pgd import PGD
from robust_tickets.components import Params, Spec
from robust_tickets.config import DATASET_DEFAULTS, AttackConfig
from robust_tickets.evaluation import autoattack
from robust_tickets.evaluation.library import TorchAttack
from robust_tickets.registry import Registry

AttackFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
KINDS = ("white-box", "black-box", "transfer", "ensemble")


@dataclass(frozen=True)
class EvalSettings:
    """Strength of the strong attacks (defaults: Madry et al.'s PGD, AutoAttack standard)."""

    pgd_steps: int = 40
    pgd_restarts: int = 5
    apgd_steps: int = 100
    fab_steps: int = 100
    square_queries: int = 5000
    batch_size: int = 1000


@dataclass(frozen=True)
class AttackContext:
    """What a preset may need besides eps."""

    num_classes: int
    train_attack: AttackConfig = field(default_factory=AttackConfig)
    settings: EvalSettings = field(default_factory=EvalSettings)
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


@dataclass(frozen=True)
class EvalPreset:
    """A named evaluation attack: `make(eps, ctx)` is its `Attack` at eps."""

    name: str
    make: Callable[[float, AttackContext], Attack]
    kind: str
    params: Callable[[AttackContext], dict[str, Any]]
    seed_group: str  # presets in one group get the same seeds, hence the same random start
    description: str
    library: bool = False  # needs torchattacks
    # an example counts only if its clean prediction is right too (robust accuracy); False
    # for the paper's measure, which counts every attacked prediction that is right
    clean_required: bool = True

    def param_string(self, ctx: AttackContext) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.params(ctx).items()))

    def build(self, model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
        """``(x, y, seed) -> x_adv``: the attack at eps on `model`, its generator seeded, its
        result projected onto the threat model (the eps-ball in [0, 1]: N-FGSM's training
        perturbation, for one, leaves the ball)."""
        attack = self.make(eps, ctx)

        def run(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
            generator = torch.Generator(device=x.device).manual_seed(seed)
            return project(attack(model, x, y, generator), x, eps)

        return run


EVAL_ATTACKS: Registry[EvalPreset] = Registry("evaluation attack")


def eval_preset(
    name: str,
    *,
    kind: str,
    params: Callable[[AttackContext], dict[str, Any]] = lambda ctx: {},
    seed_group: str | None = None,
    aliases: tuple[str, ...] = (),
    library: bool = False,
    clean_required: bool = True,
) -> Callable[[Callable[[float, AttackContext], Attack]], EvalPreset]:
    """Register ``make(eps, ctx) -> Attack`` as evaluation attack `name`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")

    def decorator(make: Callable[[float, AttackContext], Attack]) -> EvalPreset:
        preset = EvalPreset(
            name=name,
            make=make,
            kind=kind,
            params=params,
            seed_group=seed_group or name,
            description=(make.__doc__ or "").strip().splitlines()[0],
            library=library,
            clean_required=clean_required,
        )
        EVAL_ATTACKS.register(name, aliases=aliases)(preset)
        return preset

    return decorator


# ---- the project's own attacks ------------------------------------------------------------
@eval_preset("fgsm", kind="white-box")
def _fgsm(eps: float, ctx: AttackContext) -> Attack:
    """The project's FGSM."""
    return FGSM(eps=eps)


def _as_trained(name: str, eps: float, ctx: AttackContext) -> Attack:
    """Attack `name` at `eps` with the training run's settings of it (multiples of eps)."""
    return ATTACKS.get(Spec(name, ctx.trained(name)), eps=eps)


@eval_preset("fgsm-rs", kind="white-box", params=lambda ctx: {"step": ctx.trained("fgsm-rs").step})
def _fgsm_rs(eps: float, ctx: AttackContext) -> Attack:
    """The project's FGSM from a random start (step = fgsm_rs_step x eps, as in training)."""
    return _as_trained("fgsm-rs", eps, ctx)


def _nfgsm_params(ctx: AttackContext) -> dict[str, Any]:
    p = ctx.trained("nfgsm")
    return {"noise": p.noise, "step": p.step}


@eval_preset("nfgsm", kind="white-box", params=_nfgsm_params)
def _nfgsm(eps: float, ctx: AttackContext) -> Attack:
    """The project's N-FGSM as in training (noise, step), projected onto the eps-ball.

    N-FGSM's training perturbation may leave the ball; like every preset's, its result is
    projected onto the ball (`EvalPreset.build`)."""
    return _as_trained("nfgsm", eps, ctx)


def _trained_pgd(ctx: AttackContext) -> PGD:
    """PGD with the training run's steps and step size, at its eps, from a random start."""
    params = dataclasses.replace(ctx.trained("pgd"), random_start=True)
    return PGD(params, eps=ctx.train_attack.eps)


@eval_preset("pgd", kind="white-box", params=lambda ctx: _trained_pgd(ctx).summary())
def _pgd(eps: float, ctx: AttackContext) -> Attack:
    """The project's PGD as in training (its steps; step = eps * step_size/eps of training)."""
    return _trained_pgd(ctx).at(eps)


def _paper_params(ctx: AttackContext) -> dict[str, Any]:
    train = ctx.train_attack
    summary = make_attack(train).summary()  # PGD's steps and step (a fraction of eps)
    return {"attack": train.attack.name, "labels": train.attack_labels, **summary}


@eval_preset("paper", kind="white-box", params=_paper_params, clean_required=False)
def _paper(eps: float, ctx: AttackContext) -> Attack:
    """The paper's measure: the training attack on the model's own labels, counting every
    attacked prediction that is right (whatever the clean one was), as training evaluates."""
    return ChosenLabels(make_attack(ctx.train_attack).at(eps))  # a PGD step keeps its ratio


def restarted_pgd(eps: float, steps: int, restarts: int) -> Attack:
    """PGD from `restarts` random starts, step 2.5*eps/steps (Madry et al.), keeping for each
    example the first start that fools the model (later starts only run on the survivors)."""
    params = PGD.Params(step_size=2.5 * eps / steps, steps=steps, random_start=True)
    return Restarts(PGD(params, eps=eps), restarts)


@eval_preset(
    "pgd-restarts",
    kind="white-box",
    params=lambda ctx: {"steps": ctx.settings.pgd_steps, "restarts": ctx.settings.pgd_restarts},
    aliases=("pgd-strong",),
)
def _pgd_restarts(eps: float, ctx: AttackContext) -> Attack:
    """The project's PGD, many steps and random restarts, worst case per example."""
    return restarted_pgd(eps, ctx.settings.pgd_steps, ctx.settings.pgd_restarts)


@eval_preset(
    "transfer",
    kind="transfer",
    params=lambda ctx: {"steps": ctx.settings.pgd_steps, "restarts": ctx.settings.pgd_restarts},
)
def _transfer(eps: float, ctx: AttackContext) -> Attack:
    """pgd-restarts crafted on the dense (level 0) network of the same trial."""
    if ctx.surrogate is None:
        raise ValueError("the transfer attack needs a surrogate model")
    s = ctx.settings
    return Transfer(restarted_pgd(eps, s.pgd_steps, s.pgd_restarts), ctx.surrogate)


# ---- torchattacks (optional: cross-checks of the project's attacks) --------------------------
@eval_preset("ta-fgsm", kind="white-box", library=True, seed_group="fgsm")
def _ta_fgsm(eps: float, ctx: AttackContext) -> Attack:
    """torchattacks' FGSM (cross-check of the project's)."""
    return TorchAttack(lambda ta, model, seed: ta.FGSM(model, eps=eps))


@eval_preset(
    "ta-pgd",
    kind="white-box",
    library=True,
    params=lambda ctx: _trained_pgd(ctx).summary(),
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
def _aa_params(*keys: str) -> Callable[[AttackContext], dict[str, Any]]:
    """The strength settings an AutoAttack part uses, plus the implementation and its version."""
    names = {"apgd_steps": "apgd_steps", "fab_steps": "fab_steps", "square_queries": "queries"}

    def params(ctx: AttackContext) -> dict[str, Any]:
        found = {names[k]: getattr(ctx.settings, k) for k in keys}
        return {**found, "impl": autoattack.implementation()}

    return params


def _auto(attacks: tuple[str, ...]) -> Callable[[float, AttackContext], Attack]:
    def make(eps: float, ctx: AttackContext) -> Attack:
        s = ctx.settings
        return autoattack.AutoAttack(
            eps,
            num_classes=ctx.num_classes,
            attacks=attacks,
            apgd_steps=s.apgd_steps,
            fab_steps=s.fab_steps,
            square_queries=s.square_queries,
        )

    return make


def _aa_single(name: str, keys: tuple[str, ...], kind: str, doc: str) -> None:
    make = _auto((name,))
    make.__doc__ = doc
    eval_preset(name, kind=kind, params=_aa_params(*keys))(make)


_aa_single("apgd-ce", ("apgd_steps",), "white-box", "AutoAttack's APGD, cross-entropy loss.")
_aa_single("apgd-dlr", ("apgd_steps",), "white-box", "AutoAttack's APGD, DLR loss.")
_aa_single("apgd-t", ("apgd_steps",), "white-box", "AutoAttack's targeted APGD-DLR, 9 targets.")
_aa_single("fab-t", ("fab_steps",), "white-box", "AutoAttack's targeted FAB, 9 targets.")
_aa_single(
    "square", ("square_queries",), "black-box", "AutoAttack's Square: score-based, no gradients."
)


@eval_preset(
    "autoattack",
    kind="ensemble",
    params=_aa_params("apgd_steps", "fab_steps", "square_queries"),
    aliases=("aa",),
)
def _autoattack(eps: float, ctx: AttackContext) -> Attack:
    """AutoAttack standard (fra31/auto-attack): APGD-CE, APGD-T, FAB-T, Square, per example."""
    return _auto(autoattack.STANDARD)(eps, ctx)


# ---- the previous AutoAttack, from torchattacks (optional; cross-checks) --------------------
def _ta_apgd_t(ta: Any, model: nn.Module, eps: float, ctx: AttackContext, seed: int) -> object:
    steps, n = ctx.settings.apgd_steps, ctx.num_classes
    return ta.APGDT(model, norm="Linf", eps=eps, steps=steps, seed=seed, n_classes=n)


def _ta_fab_t(ta: Any, model: nn.Module, eps: float, ctx: AttackContext, seed: int) -> object:
    steps, n = ctx.settings.fab_steps, ctx.num_classes
    return ta.FAB(
        model, norm="Linf", eps=eps, steps=steps, seed=seed, multi_targeted=True, n_classes=n
    )


def _ta_square(ta: Any, model: nn.Module, eps: float, ctx: AttackContext, seed: int) -> object:
    return ta.Square(model, norm="Linf", eps=eps, n_queries=ctx.settings.square_queries, seed=seed)


@eval_preset(
    "ta-autoattack",
    kind="ensemble",
    library=True,
    params=lambda ctx: {
        "apgd_steps": ctx.settings.apgd_steps,
        "fab_steps": ctx.settings.fab_steps,
        "queries": ctx.settings.square_queries,
    },
)
def _ta_autoattack(eps: float, ctx: AttackContext) -> Attack:
    """The previous AutoAttack: torchattacks' APGD-CE, APGD-T, FAB-T, Square (MultiAttack)."""

    def make(ta: Any, model: nn.Module, seed: int) -> object:
        apgd_ce = ta.APGD(
            model, norm="Linf", eps=eps, steps=ctx.settings.apgd_steps, seed=seed, loss="ce"
        )
        parts = [_ta_apgd_t, _ta_fab_t, _ta_square]
        return ta.MultiAttack([apgd_ce, *(part(ta, model, eps, ctx, seed) for part in parts)])

    return TorchAttack(make)
