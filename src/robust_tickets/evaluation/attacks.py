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
        return PGD(AttackConfig("pgd", eps, eps / 4, 7, True))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from robust_tickets.attacks import ATTACKS, Attack, ChosenLabels, Restarts, Transfer
from robust_tickets.attacks.base import project
from robust_tickets.attacks.fgsm import FGSM
from robust_tickets.attacks.pgd import PGD
from robust_tickets.config import AttackConfig
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
def _relative_step(train: AttackConfig) -> float:
    """PGD step as a fraction of eps, as in training (0.05 / 0.3 for the paper)."""
    return train.step_size / train.eps if train.eps > 0 else train.step_size


@eval_preset("fgsm", kind="white-box")
def _fgsm(eps: float, ctx: AttackContext) -> Attack:
    """The project's FGSM."""
    return FGSM(AttackConfig(attack="fgsm", eps=eps))


def _single_step(name: str, eps: float, ctx: AttackContext) -> Attack:
    """A single-step attack at `eps` with the training run's settings (multiples of eps)."""
    t = ctx.train_attack
    config = AttackConfig(
        attack=name,
        eps=eps,
        nfgsm_noise=t.nfgsm_noise,
        nfgsm_step=t.nfgsm_step,
        fgsm_rs_step=t.fgsm_rs_step,
    )
    return ATTACKS.get(name)(config)


@eval_preset(
    "fgsm-rs", kind="white-box", params=lambda ctx: {"step": ctx.train_attack.fgsm_rs_step}
)
def _fgsm_rs(eps: float, ctx: AttackContext) -> Attack:
    """The project's FGSM from a random start (step = fgsm_rs_step x eps, as in training)."""
    return _single_step("fgsm-rs", eps, ctx)


@eval_preset(
    "nfgsm",
    kind="white-box",
    params=lambda ctx: {"noise": ctx.train_attack.nfgsm_noise, "step": ctx.train_attack.nfgsm_step},
)
def _nfgsm(eps: float, ctx: AttackContext) -> Attack:
    """The project's N-FGSM as in training (noise, step), projected onto the eps-ball.

    N-FGSM's training perturbation may leave the ball; like every preset's, its result is
    projected onto the ball (`EvalPreset.build`)."""
    return _single_step("nfgsm", eps, ctx)


def _pgd_config(eps: float, ctx: AttackContext) -> AttackConfig:
    steps = ctx.train_attack.steps
    return AttackConfig("pgd", eps, _relative_step(ctx.train_attack) * eps, steps, True)


@eval_preset(
    "pgd",
    kind="white-box",
    params=lambda ctx: {"steps": ctx.train_attack.steps, "step": _relative_step(ctx.train_attack)},
)
def _pgd(eps: float, ctx: AttackContext) -> Attack:
    """The project's PGD as in training (its steps; step = eps * step_size/eps of training)."""
    return PGD(_pgd_config(eps, ctx))


def _paper_params(ctx: AttackContext) -> dict[str, Any]:
    train = ctx.train_attack
    params = {"attack": train.attack, "labels": train.attack_labels}
    if "steps" in ATTACKS.get(train.attack).uses:
        params |= {"steps": train.steps, "step": _relative_step(train)}
    return params


@eval_preset("paper", kind="white-box", params=_paper_params, clean_required=False)
def _paper(eps: float, ctx: AttackContext) -> Attack:
    """The paper's measure: the training attack on the model's own labels, counting every
    attacked prediction that is right (whatever the clean one was), as training evaluates."""
    step = _relative_step(ctx.train_attack) * eps  # a PGD step keeps its fraction of eps
    config = dataclasses.replace(ctx.train_attack, eps=eps, step_size=step)
    return ChosenLabels(ATTACKS.get(config.attack)(config))


def restarted_pgd(eps: float, steps: int, restarts: int) -> Attack:
    """PGD from `restarts` random starts, step 2.5*eps/steps (Madry et al.), keeping for each
    example the first start that fools the model (later starts only run on the survivors)."""
    return Restarts(PGD(AttackConfig("pgd", eps, 2.5 * eps / steps, steps, True)), restarts)


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
    params=lambda ctx: {"steps": ctx.train_attack.steps, "step": _relative_step(ctx.train_attack)},
    seed_group="pgd",
)
def _ta_pgd(eps: float, ctx: AttackContext) -> Attack:
    """torchattacks' PGD with the settings and random start of `pgd` (cross-check)."""
    c = _pgd_config(eps, ctx)
    return TorchAttack(
        lambda ta, model, seed: ta.PGD(
            model, eps=eps, alpha=c.step_size, steps=c.steps, random_start=True
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
