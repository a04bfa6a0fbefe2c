"""Evaluation attacks: a registry of named, fully specified attacks at a given eps.

Training uses one cheap attack; evaluation must use strong ones. Each entry builds, for one
model and one eps, a function ``(x, y, seed) -> x_adv``. The project's FGSM/PGD come from
`robust_tickets.attacks`; AutoAttack and its parts (APGD, APGD-T, FAB-T, Square) come from its
attack code of fra31/auto-attack as repackaged in `pyautoattack` (see `evaluation.autoattack`), with
the "standard" version's parameters. torchattacks is optional: its FGSM/PGD cross-check ours and
`ta-autoattack` is the previous, torchattacks-built AutoAttack, kept for comparison.

Add an attack with::

    @eval_attack("my-attack", kind="white-box", params=lambda ctx: {"steps": 7})
    def my_attack(model, eps, ctx):
        return lambda x, y, seed: ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from robust_tickets.attacks import ATTACKS
from robust_tickets.attacks.base import labels_for_attack
from robust_tickets.config import AttackConfig
from robust_tickets.evaluation import autoattack, library
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
    # an example counts only if its clean prediction is right too (robust accuracy); False
    # for the paper's measure, which counts every attacked prediction that is right
    clean_required: bool = True

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
    clean_required: bool = True,
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
            clean_required=clean_required,
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


def _single_step_config(name: str, eps: float, ctx: AttackContext) -> AttackConfig:
    """A single-step attack at `eps` with the training run's settings (multiples of eps)."""
    t = ctx.train_attack
    return AttackConfig(
        attack=name,
        eps=eps,
        nfgsm_noise=t.nfgsm_noise,
        nfgsm_step=t.nfgsm_step,
        fgsm_rs_step=t.fgsm_rs_step,
    )


@eval_attack(
    "fgsm-rs", kind="white-box", params=lambda ctx: {"step": ctx.train_attack.fgsm_rs_step}
)
def _fgsm_rs(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """The project's FGSM from a random start (step = fgsm_rs_step x eps, as in training)."""
    return _project_attack(model, "fgsm-rs", _single_step_config("fgsm-rs", eps, ctx))


@eval_attack(
    "nfgsm",
    kind="white-box",
    params=lambda ctx: {"noise": ctx.train_attack.nfgsm_noise, "step": ctx.train_attack.nfgsm_step},
)
def _nfgsm(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """The project's N-FGSM as in training (noise, step), projected onto the eps-ball.

    N-FGSM's training perturbation may leave the ball; an evaluation attack returns points of
    the threat model (which `robustness.project` would enforce anyway)."""
    run = _project_attack(model, "nfgsm", _single_step_config("nfgsm", eps, ctx))

    def projected(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        return torch.maximum(torch.minimum(run(x, y, seed), x + eps), x - eps).clamp_(0, 1)

    return projected


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


def _paper_config(eps: float, ctx: AttackContext) -> AttackConfig:
    """The training attack at `eps` (a PGD step keeps its fraction of eps)."""
    step = _relative_step(ctx.train_attack) * eps
    return dataclasses.replace(ctx.train_attack, eps=eps, step_size=step)


def _paper_params(ctx: AttackContext) -> dict[str, Any]:
    train = ctx.train_attack
    params = {"attack": train.attack, "labels": train.attack_labels}
    if "steps" in ATTACKS.get(train.attack).uses:
        params |= {"steps": train.steps, "step": _relative_step(train)}
    return params


@eval_attack("paper", kind="white-box", params=_paper_params, clean_required=False)
def _paper(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """The paper's measure: the training attack on the model's own labels, counting every
    attacked prediction that is right (whatever the clean one was), as training evaluates."""
    config = _paper_config(eps, ctx)
    fn = ATTACKS.get(config.attack)

    def run(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        generator = torch.Generator(device=x.device).manual_seed(seed)
        with torch.no_grad():
            logits = model(x)
        return fn(model, x, labels_for_attack(config, y, logits), config, generator)

    return run


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


# ---- torchattacks (optional: cross-checks of the project's attacks) --------------------------
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


# ---- AutoAttack and its parts: fra31's attack code, as repackaged in pyautoattack ----------
def _aa_params(*keys: str) -> Callable[[AttackContext], dict[str, Any]]:
    """The strength settings an AutoAttack part uses, plus the implementation and its version."""
    names = {"apgd_steps": "apgd_steps", "fab_steps": "fab_steps", "square_queries": "queries"}

    def params(ctx: AttackContext) -> dict[str, Any]:
        found = {names[k]: getattr(ctx.settings, k) for k in keys}
        return {**found, "impl": autoattack.implementation()}

    return params


def _aa_attack(
    model: nn.Module, eps: float, ctx: AttackContext, attacks: tuple[str, ...]
) -> AttackFn:
    autoattack.module()  # fail early, with the install hint, if it is missing
    s = ctx.settings

    def run(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
        aa = autoattack.standard(
            model,
            eps,
            num_classes=ctx.num_classes,
            attacks=attacks,
            apgd_steps=s.apgd_steps,
            fab_steps=s.fab_steps,
            square_queries=s.square_queries,
            seed=seed,
            device=x.device,
        )
        return autoattack.run(aa, x, y, seed)

    return run


def _aa_single(name: str, keys: tuple[str, ...], kind: str, doc: str) -> None:
    def build(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
        return _aa_attack(model, eps, ctx, (name,))

    build.__doc__ = doc
    eval_attack(name, kind=kind, params=_aa_params(*keys))(build)


_aa_single("apgd-ce", ("apgd_steps",), "white-box", "AutoAttack's APGD, cross-entropy loss.")
_aa_single("apgd-dlr", ("apgd_steps",), "white-box", "AutoAttack's APGD, DLR loss.")
_aa_single("apgd-t", ("apgd_steps",), "white-box", "AutoAttack's targeted APGD-DLR, 9 targets.")
_aa_single("fab-t", ("fab_steps",), "white-box", "AutoAttack's targeted FAB, 9 targets.")
_aa_single(
    "square", ("square_queries",), "black-box", "AutoAttack's Square: score-based, no gradients."
)


@eval_attack(
    "autoattack",
    kind="ensemble",
    params=_aa_params("apgd_steps", "fab_steps", "square_queries"),
    aliases=("aa",),
)
def _autoattack(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """AutoAttack standard (fra31/auto-attack): APGD-CE, APGD-T, FAB-T, Square, per example."""
    return _aa_attack(model, eps, ctx, autoattack.STANDARD)


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


@eval_attack(
    "ta-autoattack",
    kind="ensemble",
    library=True,
    params=lambda ctx: {
        "apgd_steps": ctx.settings.apgd_steps,
        "fab_steps": ctx.settings.fab_steps,
        "queries": ctx.settings.square_queries,
    },
)
def _ta_autoattack(model: nn.Module, eps: float, ctx: AttackContext) -> AttackFn:
    """The previous AutoAttack: torchattacks' APGD-CE, APGD-T, FAB-T, Square (MultiAttack)."""

    def make(ta: Any, seed: int) -> object:
        apgd_ce = ta.APGD(
            model, norm="Linf", eps=eps, steps=ctx.settings.apgd_steps, seed=seed, loss="ce"
        )
        parts = [_ta_apgd_t, _ta_fab_t, _ta_square]
        return ta.MultiAttack([apgd_ce, *(part(ta, model, eps, ctx, seed) for part in parts)])

    return _library_attack(make)
