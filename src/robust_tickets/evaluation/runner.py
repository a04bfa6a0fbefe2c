"""Evaluate saved tickets: rebuild each chosen level's network from its final weights and masks,
attack its test examples with every requested attack and eps, run the masking checks, store.

Resumable per (level, attack, eps): what is already in a level's ``robustness/`` with the same
parameters and number of examples is not recomputed.
"""

from __future__ import annotations

import contextlib
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robust_tickets import claims, limits
from robust_tickets.config import DATASET_EVAL_EPS, ExperimentConfig
from robust_tickets.data import DATASETS, Split, Splits, load_splits
from robust_tickets.device import resolve_device
from robust_tickets.errors import UserError
from robust_tickets.evaluation import autoattack, estimate, library, robustbench, twins
from robust_tickets.evaluation.attacks import EVAL_ATTACKS, AttackContext, EvalPreset, presets
from robust_tickets.evaluation.checks import Thresholds, needed, run_checks
from robust_tickets.evaluation.robustness import robust_examples
from robust_tickets.evaluation.store import Entry, RobustnessDir, entry_key
from robust_tickets.evaluation.summary import LevelResult, level_result
from robust_tickets.models import create_model
from robust_tickets.models.ticket import apply_masks_, load_state
from robust_tickets.progress import Progress
from robust_tickets.seeds import derive
from robust_tickets.store import (
    ExperimentDir,
    LevelDir,
    load_masks_file,
    load_state_file,
    read_json,
    write_json,
)

DEFAULT_ATTACKS = ("fgsm", "pgd", "pgd-restarts", "autoattack")
REPLACED = "replaced"  # role of a curve entry that a newer version of its attack superseded
DEFAULT_EPS = tuple(round(0.05 * k, 10) for k in range(9))  # 0, 0.05, ..., 0.4
DEFAULT_BATCH = 1000


@dataclass(frozen=True)
class EvalOptions:
    attacks: tuple[str, ...] = DEFAULT_ATTACKS
    eps: tuple[float, ...] | None = None  # None: the dataset's default curve (default_eps)
    trials: tuple[int, ...] | None = None  # None: every trial found
    levels: tuple[int, ...] | None = None  # None: every finished level
    n_examples: int | None = None  # None: the whole test set
    checks: bool = True
    check_eps: float | None = None  # None: the experiment's training eps
    # the evaluation attacks' settings by flat name, `evaluate`'s flags ({"pgd_steps": 20}):
    # each preset takes those it owns (`attacks.presets`), the rest keep their defaults
    attack_settings: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int = DEFAULT_BATCH  # test examples attacked at once, whatever the attack
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
    result: LevelResult | None = None  # filled in once the level is evaluated
    robustbench: dict[str, Any] | None = None  # its RobustBench entry, if AutoAttack ran at eps


def empty_model(config: ExperimentConfig) -> nn.Module:
    """The experiment's network, untrained: what its stored files are checked against (the
    dataset registry knows the input shape, so no data is loaded)."""
    spec = DATASETS.get(config.data.dataset)
    return create_model(config.model.model, spec.input_shape(), spec.num_classes, seed=0)


def load_ticket(config: ExperimentConfig, level_dir: LevelDir, splits: Splits) -> nn.Module:
    """The network of one finished level: its final state under its masks, in eval mode.
    Every name and shape is checked first (a wrong-shaped tensor would otherwise broadcast)."""
    shape = tuple(splits.test.x.shape[1:])
    model = create_model(config.model.model, shape, splits.num_classes, seed=0)
    load_state(model, load_state_file(level_dir.final, model))
    apply_masks_(model, load_masks_file(level_dir.masks, model))
    return model.eval()


def default_eps(config: ExperimentConfig) -> tuple[float, ...]:
    """The robustness curve's radii for an experiment that was given none: its dataset's
    (CIFAR-10: 0, 2/255, ..., 16/255), else 0, 0.05, ..., 0.4."""
    return DATASET_EVAL_EPS.get(config.data.dataset, DEFAULT_EPS)


def _context(
    config: ExperimentConfig, num_classes: int, surrogate: nn.Module | None = None
) -> AttackContext:
    """What the presets read of the training run (its attack, dataset)."""
    return AttackContext(num_classes, config.attack, surrogate, dataset=config.data.dataset)


def _preset(chosen: Mapping[str, EvalPreset], name: str) -> EvalPreset:
    """Evaluation attack `name` (or an alias) among `chosen` (`attacks.presets`)."""
    return chosen[EVAL_ATTACKS.canonical(name)]


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
    if options.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    presets(options.attack_settings)  # an unknown setting or a bad value stops here
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
    model = empty_model(config) if plans else None
    for plan in plans:
        for level_dir in (plan.level_dir, plan.surrogate):
            if level_dir is not None:
                load_state_file(level_dir.final, model)
                load_masks_file(level_dir.masks, model)
        RobustnessDir.of(plan.level_dir).load()
    return plans


def evaluate_experiment(
    exp: ExperimentDir,
    options: EvalOptions,
    *,
    splits: Splits | None = None,
    progress: Progress | None = None,
) -> list[LevelPlan]:
    """Evaluate every chosen finished level of one experiment; returns what was planned, each
    plan with its `result` (what `summary.format_results` prints)."""
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
    # the bar counts estimated passes, not examples: one example under Square (5000 queries)
    # is not one under FGSM, and an ETA that counts them alike is off by a factor of 100
    weigh = _weigher(config, options, splits, test, device)
    if progress is None:
        total = sum(weigh(t) for p in plans for t in _unique(p.todo)) * n
        progress = Progress(
            total, quiet=options.quiet, desc=f"evaluating {exp.path.name}", unit="passes"
        )
    try:
        for plan in plans:
            _evaluate_level(plan, config, splits, test, options, check_eps, device, progress, weigh)
    finally:
        if own_progress:
            progress.close()
    return plans


def _unique(tasks: list[Task]) -> list[Task]:
    """One task per (attack, eps): a check that is also on the curve runs once."""
    return list({(t.attack, t.eps): t for t in reversed(tasks)}.values())[::-1]


def _weigher(
    config: ExperimentConfig, options: EvalOptions, splits: Splits, test: Split, device
) -> Callable[[Task], float]:
    """A task's estimated cost per example, in gradient passes of this network."""
    ctx = _context(config, splits.num_classes)
    chosen = presets(options.attack_settings)
    model = empty_model(config).to(device)
    size = min(len(test), options.batch_size, 256)
    x, y = test.x[:size].to(device), test.y[:size].to(device)
    times = estimate.measure(model, x, y, seconds=0.1)  # only the ratios matter here
    return lambda task: (
        estimate.weight(estimate.attack_passes(_preset(chosen, task.attack), task.eps, ctx), times)
        / max(times.grad, 1e-12)
    )


def _pending(
    exp: ExperimentDir,
    config: ExperimentConfig,
    plan: LevelPlan,
    ctx: AttackContext,
    n: int,
    chosen: Mapping[str, EvalPreset],
) -> tuple[list[Task], int]:
    """The plan's tasks whose results are neither stored yet nor lent by an identical twin
    level (what will actually run), and how many results the twins lend."""
    stored = RobustnessDir.of(plan.level_dir).load()
    keys = {}
    for task in _unique(plan.todo):
        spec = _preset(chosen, task.attack)
        key = entry_key(spec.name, spec.param_string(ctx), task.eps, n)
        if key not in stored:
            keys[key] = task
    lent, _ = twins.lendable(exp, config, plan.trial, plan.level, plan.surrogate, keys)
    return [task for key, task in keys.items() if key not in lent], len(lent)


def announce(
    work: list[tuple[ExperimentDir, list[LevelPlan]]], options: EvalOptions, jobs: int = 1
) -> list[str]:
    """One or two lines said before any work starts: what will run, roughly how long, and what
    the masking checks add on top of the attacks asked for (and how to skip them). With `jobs`
    levels at once, the times are divided by as many as can run at once (levels differ in cost,
    so the wall time may be longer).

    Seconds are counted passes (`estimate.attack_passes`) times the measured time of one pass
    of each experiment's network; a range, since attacks that stop early take the low end on a
    network that is not robust and the high end on one that resists them."""
    options = _canonical(options)
    device = resolve_device(options.device)
    chosen = presets(options.attack_settings)
    levels, examples, copied = 0, set(), 0
    curve: list[tuple[float, float]] = []
    extra: list[tuple[float, float]] = []
    added: dict[float, list[str]] = {}
    for exp, plans in work:
        if not plans:
            continue
        config = exp.config()
        spec = DATASETS.get(config.data.dataset)
        total = spec.counts()[1]
        n = min(options.n_examples or total, total)
        ctx = _context(config, spec.num_classes)
        model = empty_model(config).to(device)
        size = min(n, options.batch_size, 256)
        x = torch.rand(size, *spec.input_shape(), device=device)
        y = torch.randint(0, spec.num_classes, (size,), device=device)
        times = estimate.measure(model, x, y)
        for plan in plans:
            todo, lent = _pending(exp, config, plan, ctx, n, chosen)
            copied += lent
            levels += 1 if todo else 0
            examples.add(n)
            asked = {(t.attack, t.eps) for t in plan.todo if t.role == "curve"}
            for task in todo:
                passes = estimate.attack_passes(_preset(chosen, task.attack), task.eps, ctx)
                cost = times.seconds(passes, n)
                if (task.attack, task.eps) in asked:
                    curve.append(cost)
                else:
                    extra.append(cost)
                    names = added.setdefault(task.eps, [])
                    if task.attack not in names:
                        names.append(task.attack)
    twin = (
        f"; {copied} result(s) copied from identical networks of sibling experiments"
        if copied
        else ""
    )
    if not levels:
        return [f"evaluate: everything asked for is stored already{twin}; refreshing the tables"]
    size = "/".join(map(str, sorted(examples)))
    at_once = max(1, min(jobs, levels))
    curve = [(low / at_once, high / at_once) for low, high in curve]
    extra = [(low / at_once, high / at_once) for low, high in extra]
    asked = _range(estimate.span(curve)) if curve else "stored already"
    size += " test examples" + (f", {at_once} at once" if at_once > 1 else "")
    lines = [f"evaluate: {levels} level(s) x {size}; the attacks asked for: {asked}{twin}"]
    if extra:
        what = " and ".join(f"{', '.join(names)} at eps {eps:g}" for eps, names in added.items())
        lines.append(
            f"the masking checks add {what}: {_range(estimate.span(extra), ' more')} "
            "(--no-checks skips them)"
        )
    # readable in 100 columns, continuation lines indented
    wrapped = []
    for k, line in enumerate(lines):
        first = "" if k == 0 else "  "
        wrapped += textwrap.wrap(
            line, 100, initial_indent=first, subsequent_indent="    ", break_on_hyphens=False
        )
    return wrapped


def _range(span: tuple[float, float], more: str = "") -> str:
    low, high = (estimate.duration(v) for v in span)
    if low == high:
        return f"about {low}{more}"
    return (
        f"about {low}{more} if the attacks succeed at once, up to {high} if every example resists"
    )


@contextlib.contextmanager
def claimed_levels(plans: list[LevelPlan]) -> Iterator[None]:
    """Hold every planned level's claim (`robustness/evaluating.lock`, with a heartbeat) while
    the body runs. Each `evaluate` reads a level's entries, adds its own and writes them all
    back, so two at once would lose one's rows (and the stored worst case would then overstate
    robustness): the second stops before writing anything, naming the holder."""
    taken: list[claims.Claim] = []
    made: list[Path] = []  # robustness/ folders that the claim alone created
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(claims.HEARTBEAT):
            for claim in taken:
                claims.heartbeat(claim)

    beating = threading.Thread(target=beat, daemon=True)
    try:
        for plan in plans:
            path = RobustnessDir.of(plan.level_dir).lock
            if not path.parent.exists():
                made.append(path.parent)
            claim = claims.try_claim(path)
            if claim is None:
                info = claims.read_claim(path) or {}
                raise UserError(
                    f"{plan.level_dir.path.resolve()} is being evaluated by another process (pid "
                    f"{info.get('pid', '?')} on {info.get('host', '?')}): rerun when it has "
                    f"finished (its results are kept), or choose other --levels/--trials; if no "
                    f"such process exists, delete {path.resolve()}"
                )
            taken.append(claim)
        beating.start()
        yield
    finally:
        stop.set()
        if beating.is_alive():
            beating.join()
        for claim in taken:
            claims.release(claim)
        for folder in made:  # nothing was evaluated there: leave the level as it was
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty


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
    chosen: Mapping[str, EvalPreset] | None = None,
    batch_size: int = DEFAULT_BATCH,
    entries: dict[str, Entry] | None = None,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    saved: Callable[[dict[str, Entry]], None] | None = None,
    weigh: Callable[[Task], float] = lambda task: 1.0,
) -> dict[str, Entry]:
    """Run every task not already in `entries` (same attack, parameters, eps and n) on `model`.

    `chosen`: the evaluation attacks at this evaluation's settings (`attacks.presets`; None:
    every one at its defaults); `seed(seed_group, eps, start)` seeds one batch; `saved(entries)`
    is called after each task; the progress bar advances by `weigh(task)` per example. Returns
    the updated entries, keyed by `store.entry_key`.
    """
    chosen = presets() if chosen is None else chosen
    entries = dict(entries or {})
    if _retire_other_implementations(entries, ctx, chosen) and saved is not None:
        saved(entries)
    n = len(test)
    counted = set(_unique(tasks))  # what the bar's total counts (a duplicate task counts once)
    for task in tasks:
        spec = _preset(chosen, task.attack)
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
            if progress is not None and task in counted:
                progress.advance(n * weigh(task))
                counted.discard(task)
            continue
        started = time.perf_counter()
        robust = robust_examples(
            model,
            test.x,
            test.y,
            task.eps,
            spec.build(model, task.eps, ctx) if task.eps > 0 else _no_attack,
            lambda start, s=spec, e=task.eps: seed(s.seed_group, e, start),
            batch_size=batch_size,
            device=device,
            on_batch=_scaled(progress, weigh(task)),
            clean_required=spec.clean_required,
        )
        counted.discard(task)
        seconds = time.perf_counter() - started
        params = spec.param_string(ctx)
        entries[key] = Entry(spec.name, params, task.eps, n, task.role, seconds, robust)
        if saved is not None:
            saved(entries)  # after every attack, so that an interruption loses one at most
    return entries


def _scaled(progress: Progress | None, weight: float) -> Callable[[int], None] | None:
    """The bar's callback for one task: `weight` units per example done."""
    if progress is None:
        return None
    return lambda examples: progress.advance(examples * weight)


def _retire_other_implementations(
    entries: dict[str, Entry], ctx: AttackContext, chosen: Mapping[str, EvalPreset]
) -> bool:
    """Curve entries of an attack made by another implementation than today's (e.g. the
    torchattacks-built `autoattack`, stored without `impl=`) become role `replaced`, so that a
    curve never mixes implementations even when that attack is not asked for again."""
    changed = False
    for key, e in list(entries.items()):
        if e.role != "curve" or e.attack not in EVAL_ATTACKS:
            continue
        impl = _preset(chosen, e.attack).summary(ctx).get("impl")
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
    chosen: Mapping[str, EvalPreset] | None = None,
) -> dict[str, Any]:
    """The masking checks of one model from its entries on `n` examples, each attack's looked
    up at its settings among `chosen` (`attacks.presets`; None: the defaults)."""
    chosen = presets() if chosen is None else chosen

    def lookup(attack: str, eps: float) -> Entry | None:
        spec = _preset(chosen, attack)
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
    weigh: Callable[[Task], float] = lambda task: 1.0,
) -> None:
    store = RobustnessDir.of(plan.level_dir)
    model = load_ticket(config, plan.level_dir, splits).to(device)
    surrogate = None
    if plan.surrogate is not None:
        surrogate = load_ticket(config, plan.surrogate, splits).to(device)
    ctx = _context(config, splits.num_classes, surrogate)
    chosen = presets(options.attack_settings)

    def seed(group: str, eps: float, start: int) -> int:
        return derive(
            config.seed, "trial", plan.trial, "level", plan.level, "eval", group, eps, start
        )

    progress.show(trial=plan.trial, level=plan.level)
    entries = store.load()
    wanted: dict[str, str] = {}  # key -> role here (a check that is also asked for: curve)
    for task in plan.todo:
        spec = _preset(chosen, task.attack)
        key = entry_key(spec.name, spec.param_string(ctx), task.eps, len(test))
        wanted[key] = "curve" if "curve" in (task.role, wanted.get(key)) else task.role
    experiment = ExperimentDir(plan.level_dir.path.parent.parent)
    if twins.borrow(experiment, config, plan.trial, plan.level, plan.surrogate, wanted, entries):
        store.save(entries)
    entries = evaluate_model(
        model,
        test,
        plan.todo,
        ctx,
        seed,
        chosen=chosen,
        batch_size=options.batch_size,
        entries=entries,
        device=device,
        progress=progress,
        saved=store.save,
        weigh=weigh,
    )
    store.write_table(entries)
    report = None
    if options.checks:
        report = model_checks(entries, ctx, len(test), check_eps, options.thresholds, chosen)
        store.write_checks({**report, "trial": plan.trial, "level": plan.level})
    n = len(test)
    stored_clean = [e.robust for e in entries.values() if e.eps == 0 and e.n == n]
    if stored_clean:
        clean = float(stored_clean[0].float().mean())
    else:  # not on the curve: one forward pass over the examples
        clean_robust = robust_examples(
            model,
            test.x,
            test.y,
            0.0,
            _no_attack,
            lambda start: 0,
            batch_size=options.batch_size,
            device=device,
        )
        clean = float(clean_robust.float().mean())
    remaining = level_remaining(plan.level_dir)
    plan.result = level_result(plan.trial, plan.level, remaining, entries, n, clean, report)
    aa = chosen["autoattack"]
    plan.robustbench = _robustbench_entry(plan, config, ctx, aa, entries, n, clean, remaining)
    if plan.robustbench is not None and plan.robustbench["protocol"]["robustbench"]:
        write_json(store.robustbench, plan.robustbench)  # measured as the leaderboard measures


def _robustbench_entry(
    plan: LevelPlan,
    config: ExperimentConfig,
    ctx: AttackContext,
    spec: EvalPreset,
    entries: dict[str, Entry],
    n: int,
    clean: float,
    remaining: float,
) -> dict[str, Any] | None:
    """The level's RobustBench entry from its AutoAttack result (`spec`: the `autoattack`
    preset at this evaluation's settings) at the training eps on these `n` test images (None
    if there is none)."""
    params = spec.param_string(ctx)
    found = entries.get(entry_key(spec.name, params, config.attack.eps, n))
    if found is None or found.role == REPLACED:
        return None
    experiment = plan.level_dir.path.parent.parent.name
    return robustbench.entry(
        config,
        name=f"{experiment}/trial_{plan.trial}/level_{plan.level:02d}",
        remaining=remaining,
        clean=clean,
        robust=float(found.robust.float().mean()),
        n=n,
        test_size=DATASETS.get(config.data.dataset).counts()[1],
        strength=spec.params,
        params=params,
    )


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
