"""Evaluation attacks: a registry of named, fully specified attacks at a given eps.

Training uses one cheap attack; evaluation must use strong ones. Each entry builds, for one
model and one eps, a function ``(x, y, seed) -> x_adv``. The project's FGSM/PGD come from
`robust_tickets.attacks`; APGD, APGD-T, FAB-T, Square and AutoAttack come from torchattacks,
constructed with the parameters of the published AutoAttack "standard" version (100 iterations,
9 target classes, 5000 queries) rather than torchattacks' lighter defaults.

Add an attack with::

    @eval_attack("my-attack", kind="white-box", params=lambda ctx: {"steps": 7})
    def my_attack(model, eps, ctx):
        return lambda x, y, seed: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from robust_tickets.attacks import ATTACKS
from robust_tickets.config import AttackConfig
from robust_tickets.evaluation import library
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
    """What an attack may need besides the model and eps."""

    num_classes: int
    train_attack: AttackConfig = field(default_factory=AttackConfig)
    settings: EvalSettings = field(default_factory=EvalSettings)
    surrogate: nn.Module | None = None  # the dense network transfer attacks craft examples on


@dataclass(frozen=True)
class EvalAttack:
    name: str
    build: Callable[[nn.Module, float, AttackContext], AttackFn]
    kind: str
    params: Callable[[AttackContext], dict[str, Any]]
    seed_group: str  # attacks in one group get the same seeds, hence the same random start
    description: str
    library: bool = False  # needs torchattacks

    def param_string(self, ctx: AttackContext) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.params(ctx).items()))


EVAL_ATTACKS: Registry[EvalAttack] = Registry("evaluation attack")


def eval_attack(
    name: str,
    *,
    kind: str,
    params: Callable[[AttackContext], dict[str, Any]] = lambda ctx: {},
    seed_group: str | None = None,
    aliases: tuple[str, ...] = (),
    library: bool = False,
) -> Callable[[Callable[[nn.Module, float, AttackContext], AttackFn]], EvalAttack]:
    """Register a builder ``(model, eps, ctx) -> (x, y, seed) -> x_adv`` under `name`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")

    def decorator(build):
        spec = EvalAttack(
            name=name,
            build=build,
            kind=kind,
            params=params,
            seed_group=seed_group or name,
            description=(build.__doc__ or "").strip().splitlines()[0],
            library=library,
        )
        EVAL_ATTACKS.register(name, aliases=aliases)(spec)
        return spec

    return decorator


# ---- the project's own attacks ------------------------------------------------------------
def _relative_step(train: AttackConfig) -> float:
    """PGD step as a fraction of eps, as in training (0.05 / 0.3 for the paper)."""
    return train.step_size / train.eps if train.eps > 0 else train.step_size


def _project_attack(model: nn.Module, name: str, config: AttackConfig) -> AttackFn:
    fn = ATTACKS.get(name)

    def run(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        generator = torch.Generator(device=x.device).manual_seed(seed)
        return fn(model, x, y, config, generator)

    return run


@eval_attack("fgsm", kind="white-box")
def _fgsm(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """The project's FGSM."""
    return _project_attack(model, "fgsm", AttackConfig(attack="fgsm", eps=eps))


def _pgd_config(eps: float, ctx: AttackContext) -> AttackConfig:
    steps = ctx.train_attack.steps
    return AttackConfig("pgd", eps, _relative_step(ctx.train_attack) * eps, steps, True)


@eval_attack(
    "pgd",
    kind="white-box",
    params=lambda ctx: {"steps": ctx.train_attack.steps, "step": _relative_step(ctx.train_attack)},
)
def _pgd(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """The project's PGD as in training (its steps; step = eps * step_size/eps of training)."""
    return _project_attack(model, "pgd", _pgd_config(eps, ctx))


def restarted_pgd(model: nn.Module, eps: float, steps: int, restarts: int) -> AttackFn:
    """PGD from `restarts` random starts, step 2.5*eps/steps (Madry et al.), keeping for each
    example the first start that fools the model (later starts only run on the survivors)."""
    config = AttackConfig("pgd", eps, 2.5 * eps / steps, steps, True)
    pgd = ATTACKS.get("pgd")

    def run(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        generator = torch.Generator(device=x.device).manual_seed(seed)
        best = x.clone()
        alive = torch.ones(len(y), dtype=torch.bool, device=x.device)
        for _ in range(restarts):
            index = alive.nonzero().squeeze(1)
            if index.numel() == 0:
                break
            x_adv = pgd(model, x[index], y[index], config, generator)
            with torch.no_grad():
                fooled = model(x_adv).argmax(1) != y[index]
            best[index] = x_adv  # a failed start is as good as any other failed start
            alive[index[fooled]] = False
        return best

    return run


@eval_attack(
    "pgd-restarts",
    kind="white-box",
    params=lambda ctx: {"steps": ctx.settings.pgd_steps, "restarts": ctx.settings.pgd_restarts},
    aliases=("pgd-strong",),
)
def _pgd_restarts(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """The project's PGD, many steps and random restarts, worst case per example."""
    s = ctx.settings
    return restarted_pgd(model, eps, s.pgd_steps, s.pgd_restarts)


@eval_attack(
    "transfer",
    kind="transfer",
    params=lambda ctx: {"steps": ctx.settings.pgd_steps, "restarts": ctx.settings.pgd_restarts},
)
def _transfer(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """pgd-restarts crafted on the dense (level 0) network of the same trial."""
    if ctx.surrogate is None:
        raise ValueError("the transfer attack needs a surrogate model")
    s = ctx.settings
    return restarted_pgd(ctx.surrogate, eps, s.pgd_steps, s.pgd_restarts)


# ---- torchattacks ---------------------------------------------------------------------------
def _library_attack(make: Callable[[Any, int], object]) -> AttackFn:
    """Wrap ``make(torchattacks, seed) -> attack object`` as ``(x, y, seed) -> x_adv``."""
    ta = library.torchattacks()
    return lambda x, y, seed: library.run(make(ta, seed), x, y, seed)


@eval_attack("ta-fgsm", kind="white-box", library=True, seed_group="fgsm")
def _ta_fgsm(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """torchattacks' FGSM (cross-check of the project's)."""
    return _library_attack(lambda ta, seed: ta.FGSM(model, eps=eps))


@eval_attack(
    "ta-pgd",
    kind="white-box",
    library=True,
    params=lambda ctx: {"steps": ctx.train_attack.steps, "step": _relative_step(ctx.train_attack)},
    seed_group="pgd",
)
def _ta_pgd(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """torchattacks' PGD with the settings and random start of `pgd` (cross-check)."""
    c = _pgd_config(eps, ctx)
    return _library_attack(
        lambda ta, seed: ta.PGD(model, eps=eps, alpha=c.step_size, steps=c.steps, random_start=True)
    )


def _apgd(loss: str) -> Callable[[nn.Module, float, AttackContext], AttackFn]:
    def build(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
        steps = ctx.settings.apgd_steps
        return _library_attack(
            lambda ta, seed: ta.APGD(model, norm="Linf", eps=eps, steps=steps, seed=seed, loss=loss)
        )

    build.__doc__ = f"torchattacks' APGD with the {loss.upper()} loss (Croce & Hein, 2020)."
    return build


_apgd_params = lambda ctx: {"steps": ctx.settings.apgd_steps}  # noqa: E731
eval_attack("apgd-ce", kind="white-box", library=True, params=_apgd_params)(_apgd("ce"))
eval_attack("apgd-dlr", kind="white-box", library=True, params=_apgd_params)(_apgd("dlr"))


def _apgd_t(ta: Any, model: nn.Module, eps: float, ctx: AttackContext, seed: int) -> object:
    return ta.APGDT(
        model,
        norm="Linf",
        eps=eps,
        steps=ctx.settings.apgd_steps,
        seed=seed,
        n_classes=ctx.num_classes,
    )


def _fab_t(ta: Any, model: nn.Module, eps: float, ctx: AttackContext, seed: int) -> object:
    return ta.FAB(
        model,
        norm="Linf",
        eps=eps,
        steps=ctx.settings.fab_steps,
        seed=seed,
        multi_targeted=True,
        n_classes=ctx.num_classes,
    )


def _square(ta: Any, model: nn.Module, eps: float, ctx: AttackContext, seed: int) -> object:
    return ta.Square(model, norm="Linf", eps=eps, n_queries=ctx.settings.square_queries, seed=seed)


@eval_attack("apgd-t", kind="white-box", library=True, params=_apgd_params)
def _apgd_t_attack(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """torchattacks' targeted APGD with the DLR loss, every other class as target."""
    return _library_attack(lambda ta, seed: _apgd_t(ta, model, eps, ctx, seed))


@eval_attack(
    "fab-t", kind="white-box", library=True, params=lambda ctx: {"steps": ctx.settings.fab_steps}
)
def _fab_t_attack(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """torchattacks' targeted FAB, every other class as target."""
    return _library_attack(lambda ta, seed: _fab_t(ta, model, eps, ctx, seed))


@eval_attack(
    "square",
    kind="black-box",
    library=True,
    params=lambda ctx: {"queries": ctx.settings.square_queries},
)
def _square_attack(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """torchattacks' Square attack: score-based, black-box (no gradients)."""
    return _library_attack(lambda ta, seed: _square(ta, model, eps, ctx, seed))


@eval_attack(
    "autoattack",
    kind="ensemble",
    library=True,
    params=lambda ctx: {
        "apgd_steps": ctx.settings.apgd_steps,
        "fab_steps": ctx.settings.fab_steps,
        "queries": ctx.settings.square_queries,
    },
    aliases=("aa",),
)
def _autoattack(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square, each on what the others left."""

    def make(ta: Any, seed: int) -> object:
        apgd_ce = ta.APGD(
            model, norm="Linf", eps=eps, steps=ctx.settings.apgd_steps, seed=seed, loss="ce"
        )
        parts = [_apgd_t, _fab_t, _square]
        return ta.MultiAttack([apgd_ce, *(part(ta, model, eps, ctx, seed) for part in parts)])

    return _library_attack(make)
