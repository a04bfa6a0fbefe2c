"""Evaluate saved tickets: rebuild each chosen level's network from its final weights and masks,
attack its test examples with every requested attack and eps, run the masking checks, store.

Resumable per (level, attack, eps): what is already in a level's ``robustness/`` with the same
parameters and number of examples is not recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robust_tickets import limits
from robust_tickets.config import DATASET_EVAL_EPS, ExperimentConfig
from robust_tickets.data import Split, Splits, load_splits
from robust_tickets.errors import UserError
from robust_tickets.evaluation import autoattack, library
from robust_tickets.evaluation.attacks import EVAL_ATTACKS, AttackContext, EvalSettings
from robust_tickets.evaluation.checks import Thresholds, needed, run_checks
from robust_tickets.evaluation.robustness import robust_examples
from robust_tickets.evaluation.store import Entry, RobustnessDir, entry_key
from robust_tickets.models import create_model
from robust_tickets.models.ticket import apply_masks_, load_state
from robust_tickets.progress import Progress
from robust_tickets.seeds import derive
from robust_tickets.store import ExperimentDir, LevelDir, damaged, load_tensors, read_json

DEFAULT_ATTACKS = ("fgsm", "pgd", "pgd-restarts", "autoattack")
REPLACED = "replaced"  # role of a curve entry that a newer version of its attack superseded
DEFAULT_EPS = tuple(round(0.05 * k, 10) for k in range(9))  # 0, 0.05, ..., 0.4


@dataclass(frozen=True)
class EvalOptions:
    attacks: tuple[str, ...] = DEFAULT_ATTACKS
    eps: tuple[float, ...] | None = None  # None: the dataset's default curve (default_eps)
    trials: tuple[int, ...] | None = None  # None: every trial found
    levels: tuple[int, ...] | None = None  # None: every finished level
    n_examples: int | None = None  # None: the whole test set
    checks: bool = True
    check_eps: float | None = None  # None: the experiment's training eps
    settings: EvalSettings = field(default_factory=EvalSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    device: str = "cpu"
    data_dir: str | None = None
    quiet: bool = False


@dataclass(frozen=True)
class Task:
    attack: str
    eps: float
    role: str


@dataclass
class LevelPlan:
    trial: int
    level: int
    level_dir: LevelDir
    todo: list[Task]
    surrogate: LevelDir | None


def load_ticket(config: ExperimentConfig, level_dir: LevelDir, splits: Splits) -> nn.Module:
    """The network of one finished level: its final state under its masks, in eval mode."""
    shape = tuple(splits.test.x.shape[1:])
    model = create_model(config.model.model, shape, splits.num_classes, seed=0)
    try:
        load_state(model, load_tensors(level_dir.final))
    except (KeyError, RuntimeError, ValueError) as error:  # missing names, wrong shapes
        raise damaged(level_dir.final, f"does not fit the model: {error}") from None
    masks = load_tensors(level_dir.masks)
    try:
        apply_masks_(model, masks)
    except (KeyError, RuntimeError) as error:
        raise damaged(level_dir.masks, f"does not fit the model: {error}") from None
    return model.eval()


def default_eps(config: ExperimentConfig) -> tuple[float, ...]:
    """The robustness curve's radii for an experiment that was given none: its dataset's
    (CIFAR-10: 0, 2/255, ..., 16/255), else 0, 0.05, ..., 0.4."""
    return DATASET_EVAL_EPS.get(config.data.dataset, DEFAULT_EPS)


def _canonical(options: EvalOptions) -> EvalOptions:
    if options.eps is not None and not options.eps:
        raise UserError("--eps is empty: give at least one radius, e.g. --eps 0.1")
    for eps in options.eps or ():
        limits.in_unit("--eps", eps)
    if options.check_eps is not None:
        limits.in_unit("--check-eps", options.check_eps)
    names = tuple(dict.fromkeys(EVAL_ATTACKS.canonical(a) for a in options.attacks))
    if any(EVAL_ATTACKS.get(a).library for a in names):
        library.torchattacks()  # fail before anything is written if it is missing
    if options.checks or set(names) & {"autoattack", *autoattack.SINGLE}:
        autoattack.module()
    if options.n_examples is not None and options.n_examples < 1:
        raise UserError("--n-examples must be at least 1")
    return EvalOptions(**{**options.__dict__, "attacks": names})


def plan_experiment(
    exp: ExperimentDir, config: ExperimentConfig, options: EvalOptions, n: int
) -> list[LevelPlan]:
    """What is left to do in each chosen finished level (empty todo: only tables to refresh)."""
    check_eps = options.check_eps if options.check_eps is not None else config.attack.eps
    radii = options.eps if options.eps is not None else default_eps(config)
    trials = dict(exp.trials())
    chosen = options.trials if options.trials is not None else sorted(trials)
    plans = []
    for trial in chosen:
        if trial not in trials:
            continue
        levels = dict(trials[trial].levels())
        dense = levels.get(0)
        dense = dense if dense is not None and dense.is_done() else None
        for level in options.levels if options.levels is not None else sorted(levels):
            level_dir = levels.get(level)
            if level_dir is None or not level_dir.is_done():
                continue
            surrogate = dense if level != 0 else None
            tasks = [Task(a, e, "curve") for e in radii for a in options.attacks]
            if "transfer" in options.attacks and surrogate is None:
                tasks = [t for t in tasks if t.attack != "transfer"]
            if options.checks:
                tasks += [Task(a, e, "check") for a, e in needed(check_eps, surrogate is not None)]
            plans.append(LevelPlan(trial, level, level_dir, tasks, surrogate))
    return plans


def check_selection(experiments: list[ExperimentDir], options: EvalOptions) -> None:
    """--trials and --levels must each name something that exists (a typo would otherwise
    evaluate nothing and exit 0); the error says what there is."""
    for flag, chosen in (("--trials", options.trials), ("--levels", options.levels)):
        if chosen is not None and not chosen:
            raise UserError(f"{flag} is empty: name at least one, or leave it out for all")
    trials = {t: d for exp in experiments for t, d in exp.trials()}
    if options.trials is not None:
        missing = sorted(set(options.trials) - set(trials))
        if missing:
            found = ", ".join(map(str, sorted(trials))) or "none"
            asked = ", ".join(map(str, missing))
            raise UserError(f"--trials {asked}: no such trial (trials found: {found})")
    if options.levels is not None:
        chosen = trials if options.trials is None else {t: trials[t] for t in options.trials}
        finished = {
            level
            for exp in experiments
            for t, trial in exp.trials()
            if t in chosen
            for level, level_dir in trial.levels()
            if level_dir.is_done()
        }
        missing = sorted(set(options.levels) - finished)
        if missing:
            found = ", ".join(map(str, sorted(finished))) or "none"
            asked = ", ".join(map(str, missing))
            raise UserError(
                f"--levels {asked}: no such finished level in the chosen trials "
                f"(finished levels: {found})"
            )


def verify_experiment(exp: ExperimentDir, options: EvalOptions) -> list[LevelPlan]:
    """Read back every file the evaluation of `exp` will read (config, the tickets and what
    their robustness/ holds), so that damage is named before anything is written anywhere."""
    config = exp.config()
    plans = plan_experiment(exp, config, _canonical(options), 0)
    for plan in plans:
        for level_dir in (plan.level_dir, plan.surrogate):
            if level_dir is not None:
                load_tensors(level_dir.final)
                load_tensors(level_dir.masks)
        RobustnessDir.of(plan.level_dir).load()
    return plans


def evaluate_experiment(
    exp: ExperimentDir,
    options: EvalOptions,
    *,
    splits: Splits | None = None,
    progress: Progress | None = None,
) -> list[LevelPlan]:
    """Evaluate every chosen finished level of one experiment; returns what was planned."""
    from robust_tickets.experiment import resolve_device

    options = _canonical(options)
    config = exp.config()
    device = resolve_device(options.device)
    if splits is None:
        splits = load_splits(config.data.dataset, config.data.valid_size, options.data_dir)
    test = _subset(splits.test, options.n_examples)
    n = len(test)
    plans = plan_experiment(exp, config, options, n)
    check_eps = options.check_eps if options.check_eps is not None else config.attack.eps
    own_progress = progress is None
    if progress is None:
        total = sum(len(p.todo) for p in plans) * n
        progress = Progress(total, quiet=options.quiet, desc=f"evaluating {exp.path.name}")
    try:
        for plan in plans:
            _evaluate_level(plan, config, splits, test, options, check_eps, device, progress)
    finally:
        if own_progress:
            progress.close()
    return plans


def _subset(split: Split, n: int | None) -> Split:
    if n is None or n >= len(split):
        return split
    return Split(split.x[:n], split.y[:n])


def evaluate_model(
    model: nn.Module,
    test: Split,
    tasks: list[Task],
    ctx: AttackContext,
    seed: Callable[[str, float, int], int],
    *,
    entries: dict[str, Entry] | None = None,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    saved: Callable[[dict[str, Entry]], None] | None = None,
) -> dict[str, Entry]:
    """Run every task not already in `entries` (same attack, parameters, eps and n) on `model`.

    `seed(seed_group, eps, start)` seeds one batch; `saved(entries)` is called after each task.
    Returns the updated entries, keyed by `store.entry_key`.
    """
    entries = dict(entries or {})
    if _retire_other_implementations(entries, ctx) and saved is not None:
        saved(entries)
    n = len(test)
    for task in tasks:
        spec = EVAL_ATTACKS.get(task.attack)
        key = entry_key(spec.name, spec.param_string(ctx), task.eps, n)
        if progress is not None:
            progress.show(attack=spec.name, eps=task.eps)
        superseded = task.role == "curve" and _supersede(entries, key, spec.name, task.eps, n)
        if superseded and saved is not None:
            saved(entries)
        if key in entries:
            old = entries[key]
            if task.role == "curve" and old.role != "curve":  # asked for now: part of the curve
                entries[key] = Entry(**{**old.meta(), "role": "curve"}, robust=old.robust)
                if saved is not None:
                    saved(entries)
            if progress is not None:
                progress.advance(n)
            continue
        started = time.perf_counter()
        robust = robust_examples(
            model,
            test.x,
            test.y,
            task.eps,
            spec.build(model, task.eps, ctx) if task.eps > 0 else _no_attack,
            lambda start, s=spec, e=task.eps: seed(s.seed_group, e, start),
            batch_size=ctx.settings.batch_size,
            device=device,
            on_batch=progress.advance if progress is not None else None,
        )
        seconds = time.perf_counter() - started
        params = spec.param_string(ctx)
        entries[key] = Entry(spec.name, params, task.eps, n, task.role, seconds, robust)
        if saved is not None:
            saved(entries)  # after every attack, so that an interruption loses one at most
    return entries


def _retire_other_implementations(entries: dict[str, Entry], ctx: AttackContext) -> bool:
    """Curve entries of an attack made by another implementation than today's (e.g. the
    torchattacks-built `autoattack`, stored without `impl=`) become role `replaced`, so that a
    curve never mixes implementations even when that attack is not asked for again."""
    changed = False
    for key, e in list(entries.items()):
        if e.role != "curve" or e.attack not in EVAL_ATTACKS:
            continue
        impl = EVAL_ATTACKS.get(e.attack).params(ctx).get("impl")
        if impl is not None and f"impl={impl}" not in e.params.split(","):
            entries[key] = Entry(**{**e.meta(), "role": REPLACED}, robust=e.robust)
            changed = True
    return changed


def _supersede(entries: dict[str, Entry], key: str, attack: str, eps: float, n: int) -> bool:
    """The curve holds one version of each attack: a curve entry of the same attack, eps and n
    with other parameters (other strength, another implementation) becomes role `replaced`,
    kept in the store and table but out of the worst case. Returns whether any changed."""
    changed = False
    for other, e in list(entries.items()):
        if other != key and e.role == "curve" and (e.attack, e.eps, e.n) == (attack, eps, n):
            entries[other] = Entry(**{**e.meta(), "role": REPLACED}, robust=e.robust)
            changed = True
    return changed


def model_checks(
    entries: dict[str, Entry],
    ctx: AttackContext,
    n: int,
    check_eps: float,
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    """The masking checks of one model from its entries on `n` examples."""

    def lookup(attack: str, eps: float) -> Entry | None:
        spec = EVAL_ATTACKS.get(attack)
        return entries.get(entry_key(spec.name, spec.param_string(ctx), eps, n))

    mine = [e for e in entries.values() if e.n == n]
    return run_checks(lookup, mine, check_eps, thresholds or Thresholds())


def _evaluate_level(
    plan: LevelPlan,
    config: ExperimentConfig,
    splits: Splits,
    test: Split,
    options: EvalOptions,
    check_eps: float,
    device: torch.device,
    progress: Progress,
) -> None:
    store = RobustnessDir.of(plan.level_dir)
    model = load_ticket(config, plan.level_dir, splits).to(device)
    surrogate = None
    if plan.surrogate is not None:
        surrogate = load_ticket(config, plan.surrogate, splits).to(device)
    ctx = AttackContext(splits.num_classes, config.attack, options.settings, surrogate)

    def seed(group: str, eps: float, start: int) -> int:
        return derive(
            config.seed, "trial", plan.trial, "level", plan.level, "eval", group, eps, start
        )

    progress.show(trial=plan.trial, level=plan.level)
    entries = evaluate_model(
        model,
        test,
        plan.todo,
        ctx,
        seed,
        entries=store.load(),
        device=device,
        progress=progress,
        saved=store.save,
    )
    store.write_table(entries)
    if options.checks:
        report = model_checks(entries, ctx, len(test), check_eps, options.thresholds)
        store.write_checks({**report, "trial": plan.trial, "level": plan.level})


def _no_attack(x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    return x


def level_remaining(level_dir: LevelDir) -> float:
    return float(read_json(level_dir.info)["remaining"])


def find_experiment_dirs(paths: list[Path]) -> list[ExperimentDir]:
    from robust_tickets.store import find_experiments

    found = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path} does not exist: give a results directory")
        found.extend(find_experiments(path))
    if not found:
        raise UserError(
            f"no experiments under {', '.join(map(str, paths))}: run `robust-tickets run` first"
        )
    return found
