"""Read a results store into per-experiment series of per-(trial, level) curves.

Metrics come only from `robust_tickets.results.iter_rows` (the same rows `robust-tickets results`
prints); the store's layout classes give the config and the weight files. Nothing is trained.
Experiments are grouped into *settings*: configs equal in everything but the strategy, so that
`reset`, `random`, `continue` and `dense` runs of one setup are drawn together.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robust_tickets.config import ExperimentConfig
from robust_tickets.errors import UserError
from robust_tickets.report.style import objective_tag, pct, setting_slug, setting_title
from robust_tickets.results import iter_rows
from robust_tickets.schedule import level_steps, num_levels
from robust_tickets.store import ExperimentDir, LevelDir, experiments_under, read_json

METRICS = ("loss", "acc", "adv_loss", "adv_acc")
# Fields that do not separate settings: the strategy is what a setting compares, and the
# number of levels or the rewind point only say how far / from where a strategy ran.
NOT_SETTING = ("strategy", "prune_iters", "rewind_iter")


@dataclass
class Curve:
    """One split of one (trial, level): metrics by evaluated iteration (accuracies as fractions)."""

    iteration: np.ndarray
    values: dict[str, np.ndarray]


@dataclass
class LevelRun:
    trial: int
    level: int
    remaining: float
    complete: bool
    level_dir: LevelDir
    curves: dict[str, Curve] = field(default_factory=dict)
    # done.json's `final_weights` where the overfitting check put a best check's weights back
    # (`from` "best_check", with its step and epoch); None where they are the level's end's
    best_check: dict[str, Any] | None = None

    def last_iteration(self) -> int:
        return max((int(c.iteration[-1]) for c in self.curves.values()), default=-1)


@dataclass
class Series:
    """One experiment (config hash): every trial and level found for it."""

    config: ExperimentConfig
    paths: list[Path]
    runs: dict[tuple[int, int], LevelRun] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    label: str = ""  # the strategy, and what tells it from its setting's other experiments
    title: str = ""  # its setting's title (style.setting_title, told apart from other settings)

    @property
    def flat(self) -> dict[str, Any]:
        return self.config.flat()

    @property
    def strategy(self) -> str:
        return self.config.prune.strategy.name

    @property
    def name(self) -> str:
        return self.config.name()

    def trials(self) -> list[int]:
        return sorted({t for t, _ in self.runs})

    def levels(self) -> list[int]:
        return sorted({lv for _, lv in self.runs})

    def remaining(self, level: int) -> float:
        return next(r.remaining for (_, lv), r in self.runs.items() if lv == level)


@dataclass
class Setting:
    """Experiments that differ only in strategy (and how many levels they ran)."""

    flat: dict[str, Any]
    series: list[Series]
    title: str = ""  # unique among the report's settings
    slug: str = ""  # unique file-name stem

    def by_strategy(self, strategy: str) -> list[Series]:
        return [s for s in self.series if s.strategy == strategy]

    def primary(self) -> Series:
        """The experiment the others are compared with: the first `reset` one, else the first."""
        resets = self.by_strategy("reset")
        return resets[0] if resets else self.series[0]


def _level_runs(exp: ExperimentDir) -> dict[tuple[int, int], LevelRun]:
    rows: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    meta: dict[tuple[int, int], dict[str, Any]] = {}
    for row in iter_rows(exp.path):
        key = (row["trial"], row["level"])
        rows[key].append(row)
        meta[key] = row
    runs = {}
    for key, found in rows.items():
        trial, level = key
        run = LevelRun(
            trial=trial,
            level=level,
            remaining=float(meta[key]["remaining"]),
            complete=bool(meta[key]["complete"]),
            level_dir=exp.trial(trial).level(level),
        )
        if meta[key].get("final_from") == "best_check":
            run.best_check = read_json(run.level_dir.done)["final_weights"]
        for split in sorted({r["split"] for r in found}):
            picked = sorted((r for r in found if r["split"] == split), key=lambda r: r["iteration"])
            run.curves[split] = Curve(
                iteration=np.array([r["iteration"] for r in picked], dtype=np.int64),
                values={m: np.array([r[m] for r in picked], dtype=float) for m in METRICS},
            )
        runs[key] = run
    return runs


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(parts)


def _gaps(numbers: list[int]) -> str:
    """The integers missing between consecutive sorted `numbers`, as ranges ('1-3, 7')."""
    parts = []
    for low, high in itertools.pairwise(numbers):
        if high - low == 2:
            parts.append(str(low + 1))
        elif high - low > 2:
            parts.append(f"{low + 1}-{high - 1}")
    return ", ".join(parts)


def _missing_notes(series: Series, exp_dirs: list[ExperimentDir]) -> list[str]:
    """What is not (yet) there: gaps in trial ids, levels running or not started."""
    notes = []
    expected = num_levels(series.config)
    trials = series.trials()
    started = sorted({t for exp in exp_dirs for t, _ in exp.trials()})
    gaps = _gaps([-1, *started])  # from the numbers found, whatever their size
    if gaps:
        notes.append(f"trial(s) {gaps} missing (found {_ranges(started)})")
    for trial in started:
        if trial not in trials:
            notes.append(f"trial {trial}: started but no evaluation written yet")
            continue
        runs = {lv: r for (t, lv), r in series.runs.items() if t == trial}
        for level, run in sorted(runs.items()):
            if not run.complete:
                notes.append(
                    f"trial {trial}: level {level} ({pct(run.remaining)}% left) still running "
                    f"or interrupted, at iteration {run.last_iteration():,} of "
                    f"{level_steps(series.config):,}"
                )
        absent = _gaps([-1, *sorted(lv for lv in runs if lv < expected), expected])
        if absent:
            notes.append(f"trial {trial}: level(s) {absent} of 0-{expected - 1} missing")
    return notes


def load_series(dirs: list[Path]) -> list[Series]:
    """Every experiment under `dirs`, merged by config hash. Raises UserError when none has
    a single evaluated level."""
    for directory in dirs:
        if not Path(directory).exists():
            raise UserError(f"{directory} does not exist: give a results directory")
    found: dict[str, Series] = {}
    exp_dirs: dict[str, list[ExperimentDir]] = defaultdict(list)
    for exp in experiments_under(dirs):  # each once, however many of dirs reach it
        config = exp.config()
        series = found.setdefault(config.hash(), Series(config=config, paths=[]))
        series.paths.append(exp.path)
        exp_dirs[config.hash()].append(exp)
        for key, run in _level_runs(exp).items():
            if key in series.runs:
                first = series.runs[key].level_dir.path
                series.notes.append(
                    f"trial {key[0]} level {key[1]} found in both {first} and "
                    f"{run.level_dir.path}; using the first"
                )
                continue
            series.runs[key] = run
    for key, series in found.items():
        series.notes[:0] = _missing_notes(series, exp_dirs[key])
    usable = [s for s in found.values() if s.runs]
    if not usable:
        where = ", ".join(map(str, dirs))
        raise UserError(f"no results under {where}: run `robust-tickets run` first")
    return usable


def group_settings(series: list[Series]) -> list[Setting]:
    """Group experiments by everything but strategy; label each series within its setting, and
    give each setting a title and a file stem no other setting has."""
    groups: dict[tuple, list[Series]] = {}
    for s in series:
        flat = s.flat
        key = tuple(sorted((k, v) for k, v in flat.items() if k not in NOT_SETTING))
        groups.setdefault(key, []).append(s)
    settings = []
    for members in groups.values():
        members.sort(key=lambda s: (strategy_rank(s.strategy), s.name))
        for s in members:
            twins = [o for o in members if o.strategy == s.strategy]
            differing = [k for k in NOT_SETTING[1:] if len({o.flat[k] for o in twins}) > 1]
            detail = ", ".join(f"{k}={s.flat[k]}" for k in differing)
            s.label = f"{s.strategy} ({detail})" if detail else s.strategy
        common = {k: v for k, v in members[0].flat.items() if k not in NOT_SETTING}
        settings.append(Setting(flat=common, series=members, title=setting_title(common)))
    settings.sort(  # the objective adv_train implies (tag "") before madry, trades ...
        key=lambda g: (
            g.flat["dataset"],
            g.flat["attack"],
            not g.flat["adv_train"],
            objective_tag(g.flat),
            str(g.flat),
        )
    )
    _tell_apart(settings)
    return settings


def _tell_apart(settings: list[Setting]) -> None:
    """Settings whose titles coincide (they differ in a setting the title does not name, such
    as the learning rate) get the fields they differ in appended; then unique slugs."""
    by_title: dict[str, list[Setting]] = defaultdict(list)
    for setting in settings:
        by_title[setting.title].append(setting)
    for twins in by_title.values():
        if len(twins) < 2:
            continue
        keys = sorted({k for t in twins for k in t.flat})
        differing = [k for k in keys if len({repr(t.flat.get(k)) for t in twins}) > 1]
        for t in twins:
            t.title += " · " + ", ".join(f"{k} {t.flat.get(k)}" for k in differing)
    used: set[str] = set()
    for setting in settings:
        base = slug = re.sub(r"[^A-Za-z0-9_.+-]+", "_", setting_slug(setting.flat))
        n = 2
        while slug in used:
            slug, n = f"{base}-{n}", n + 1
        used.add(slug)
        setting.slug = slug
        for s in setting.series:
            s.title = setting.title


STRATEGY_ORDER = ("reset", "dense", "random", "continue", "rewind")


def strategy_rank(strategy: str) -> int:
    return STRATEGY_ORDER.index(strategy) if strategy in STRATEGY_ORDER else len(STRATEGY_ORDER)
