"""AutoAttack (Croce & Hein, 2020): fra31/auto-attack's attack code, repackaged in `pyautoattack`.

`pyautoattack` on PyPI is fra31/auto-attack, the code RobustBench and the Adversarial Pruning
Benchmark evaluate with; it declares no dependencies, so it is one of ours. `autoattack` here is
its ``AutoAttack(version="standard")`` and its own ``run_standard_evaluation``: APGD-CE, then
APGD-T, FAB-T and Square, each on the examples the previous ones left robust (the per-example
worst case). The single attacks (`apgd-ce`, `apgd-t`, ...) are the same objects run alone.

Their settings are the standard version's (100 iterations, 9 target classes, 5000 queries);
the presets' params (`--apgd-steps`, `--fab-steps`, `--square-queries`) can lower them for
quick looks. Every attack reseeds torch's *global* generator,
so each call runs inside `library.isolated_rng`; its diagnostic log lines ("zero gradient",
"dynamic defense") are silenced, since `evaluate` runs its own gradient-masking checks.
`AutoAttack` is all this as an `robust_tickets.attacks.Attack` (whose base also keeps
AutoAttack's backward passes from filling, and paying for, every weight's ``.grad``).

FAB's projection is ours (`fab_projection.project_linf`, the same problem solved with a faster
sort; tested against the library's): while FAB runs, pyautoattack's module-level
`fab_base.projection_linf` points to it. ``ROBUST_TICKETS_FAB_PROJECTION=library`` keeps the
library's, for checking; the choice is not part of the stored parameters, since the per-image
results are the same (tests/test_fab_projection.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from importlib import metadata
from types import ModuleType
from typing import Any

import torch
from torch import nn

from robust_tickets.attacks.base import Attack, seed_of
from robust_tickets.errors import UserError
from robust_tickets.evaluation.fab_projection import project_linf

INSTALL_HINT = "pip install 'pyautoattack>=0.2,<0.3'"
STANDARD = ("apgd-ce", "apgd-t", "fab-t", "square")
SINGLE = ("apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square")
LOGGER = "auto-attack"  # the logger name pyautoattack uses
FAB_PROJECTION = "ROBUST_TICKETS_FAB_PROJECTION"  # "ours" (the default) or "library"


def module() -> ModuleType:
    """The pyautoattack package, or a one-line UserError saying how to install it."""
    try:
        import pyautoattack
    except ImportError as exc:
        raise UserError(
            f"AutoAttack needs the pyautoattack package ({exc}): install it with "
            f"`{INSTALL_HINT}` (or reinstall robust_tickets, which depends on it)"
        ) from None
    return pyautoattack


def implementation() -> str:
    """Name and version of the implementation, part of every stored result's parameters, so
    that results of another implementation or version are never taken for these. The version
    comes from the installed package's metadata, else from the module itself (its files copied
    onto a machine without pip, as onto a GPU machine that cannot reach PyPI)."""
    try:
        return f"pyautoattack-{metadata.version('pyautoattack')}"
    except metadata.PackageNotFoundError:
        pass
    try:
        version = getattr(module(), "__version__", None)
    except UserError:
        version = None
    return f"pyautoattack-{version or 'missing'}"


def standard(
    model: nn.Module,
    eps: float,
    *,
    num_classes: int,
    attacks: tuple[str, ...] = STANDARD,
    apgd_steps: int = 100,
    fab_steps: int = 100,
    square_queries: int = 5000,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Any:
    """pyautoattack's standard-version AutoAttack, restricted to `attacks`; strengths other than
    the standard ones rebuild the APGD objects with AutoAttack's own constructor arguments
    (their schedule is fixed when they are built)."""
    aa_module = module()
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    aa = aa_module.AutoAttack(
        model, norm="Linf", eps=eps, version="standard", seed=seed, device=device
    )
    if apgd_steps != aa.apgd.n_iter:
        common = dict(norm="Linf", eps=eps, eot_iter=1, rho=0.75, seed=seed, device=device)
        aa.apgd = APGDAttack(model, n_restarts=1, n_iter=apgd_steps, logger=aa.logger, **common)
        aa.apgd_targeted = APGDAttack_targeted(
            model, n_restarts=1, n_iter=apgd_steps, logger=aa.logger, **common
        )
    targets = min(9, num_classes - 1)  # the standard version's 9, or every other class
    aa.apgd_targeted.n_target_classes = targets
    aa.fab.n_target_classes = targets
    aa.fab.n_iter = fab_steps
    aa.square.n_queries = square_queries
    aa.attacks_to_run = list(attacks)
    aa.verbose = False
    return aa


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    logger = logging.getLogger(LOGGER)
    before = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = before


def fab_projection() -> str:
    """Whose L-inf projection FAB uses: "ours" unless $ROBUST_TICKETS_FAB_PROJECTION says
    "library"."""
    choice = os.environ.get(FAB_PROJECTION) or "ours"
    if choice not in ("ours", "library"):
        raise UserError(f"{FAB_PROJECTION} must be 'ours' or 'library', not {choice!r}")
    return choice


@contextlib.contextmanager
def _fab_projection(choice: str) -> Iterator[None]:
    """FAB calls the name `projection_linf` of pyautoattack's `fab_base` module: with choice
    "ours" point it to `project_linf` meanwhile, then put back what was there (evaluation
    runs its attacks one at a time in a process, never from two threads)."""
    if choice != "ours":
        yield
        return
    from pyautoattack import fab_base

    before = fab_base.projection_linf
    fab_base.projection_linf = project_linf
    try:
        yield
    finally:
        fab_base.projection_linf = before


def run(aa: Any, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    """One batch through `run_standard_evaluation` with a fixed seed; returns x_adv."""
    from robust_tickets.evaluation.library import isolated_rng

    aa.seed = seed
    for part in (aa.apgd, aa.apgd_targeted, aa.fab, aa.square):
        part.device = x.device
    aa.device = x.device
    fab = any(name.startswith("fab") for name in aa.attacks_to_run)
    projection = fab_projection() if fab else "library"
    with isolated_rng(seed, x.device), _quiet(), _fab_projection(projection):
        x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=len(x))
    return x_adv.detach()


class AutoAttack(Attack):
    """pyautoattack's standard AutoAttack (or the parts in `attacks`) at `eps`, seeded with the
    generator's seed: `standard` then `run` on each call."""

    def __init__(
        self,
        eps: float,
        *,
        num_classes: int,
        attacks: tuple[str, ...] = STANDARD,
        apgd_steps: int = 100,
        fab_steps: int = 100,
        square_queries: int = 5000,
    ) -> None:
        module()  # fail early, with the install hint, if it is missing
        self.eps, self.attacks, self.num_classes = eps, attacks, num_classes
        self.strength = {
            "apgd_steps": apgd_steps,
            "fab_steps": fab_steps,
            "square_queries": square_queries,
        }

    def run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        seed = seed_of(generator)
        aa = standard(
            model,
            self.eps,
            num_classes=self.num_classes,
            attacks=self.attacks,
            seed=seed,
            device=x.device,
            **self.strength,
        )
        return run(aa, x, y, seed)
