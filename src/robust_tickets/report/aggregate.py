"""Numbers the figures and tables show: values at an iteration, early stopping, mean ± std.

Every statistic is over trials: the mean, and the *sample* standard deviation (ddof=1; it is
undefined, NaN, for a single trial). Accuracies stay fractions here; the figures and tables
turn them into percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robust_tickets.config import ExperimentConfig
from robust_tickets.report.load import LevelRun, Series
from robust_tickets.report.paper import PAPER_LEVELS
from robust_tickets.schedule import level_schedule
from robust_tickets.store import load_tensors


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    n: int


def mean_std(values: list[float] | np.ndarray) -> Stat:
    """Mean and sample std (ddof=1) of the finite values; NaN std for fewer than two."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return Stat(math.nan, math.nan, 0)
    std = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
    return Stat(float(arr.mean()), std, int(arr.size))


def table_iteration(config: ExperimentConfig, at: int) -> int:
    """The step of the evaluation a table "at iteration `at`" uses. `at` is a label: the
    paper's "iteration 30,000" is the evaluation the original code labelled 30,000, step
    25,021 of the keras loop (`robust_tickets.schedule`), step 30,000 of the plain one. Not
    evaluated: the last labelled evaluation before it (the level's end when the run is
    shorter). Computed, never listed, so that a huge train_iters / eval_every costs nothing."""
    schedule = level_schedule(config)
    label = max(at, 0) // schedule.eval_every * schedule.eval_every
    if schedule.loop == "steps":
        return schedule.total if at >= schedule.total else label
    step = schedule.step_of_label(label)
    return schedule.total if step is None else step


def table_label(config: ExperimentConfig, at: int) -> int | None:
    """The label of that evaluation (None: the keras loop's unlabelled end)."""
    return level_schedule(config).label(table_iteration(config, at))


def evaluation_name(config: ExperimentConfig, at: int) -> str:
    """How a page names that evaluation: "iteration 30,000", or for the keras loop
    "label 30,000 (step 25,021)"."""
    step = table_iteration(config, at)
    if config.train.train_loop == "steps":
        return f"iteration {step:,}"
    label = table_label(config, at)
    if label is None:
        return f"step {step:,} (the level's end)"
    return f"label {label:,} (step {step:,})"


def table_stat(series: Series, level: int, metric: str, at: int) -> Stat:
    """What the tables and the accuracy figure show for `level`: test `metric` (mean ± std
    over trials) at the tabulated evaluation, the paper's "iteration 30,000" when `at` is
    30,000 (see table_iteration). The one place that picks which evaluation that is."""
    return level_stat(series, level, "test", metric, table_iteration(series.config, at))


def value_at(run: LevelRun, split: str, metric: str, iteration: int) -> float | None:
    curve = run.curves.get(split)
    if curve is None:
        return None
    hit = np.flatnonzero(curve.iteration == iteration)
    return float(curve.values[metric][hit[0]]) if hit.size else None


def level_stat(series: Series, level: int, split: str, metric: str, iteration: int) -> Stat:
    """Mean ± std over the trials of `series` that reached `iteration` at `level`."""
    values = [
        v
        for (_, lv), run in sorted(series.runs.items())
        if lv == level and (v := value_at(run, split, metric, iteration)) is not None
    ]
    return mean_std(values)


@dataclass(frozen=True)
class EarlyStop:
    """The evaluation with the minimum validation loss (the earliest such, on ties)."""

    iteration: int
    valid_acc: float
    valid_adv_acc: float


def early_stop(run: LevelRun, split: str = "valid") -> EarlyStop | None:
    curve = run.curves.get(split)
    if curve is None or curve.iteration.size == 0:
        return None
    best = int(np.argmin(curve.values["loss"]))  # argmin returns the first minimum
    return EarlyStop(
        int(curve.iteration[best]),
        float(curve.values["acc"][best]),
        float(curve.values["adv_acc"][best]),
    )


@dataclass(frozen=True)
class Band:
    """A curve's mean and std over trials at each iteration, with how many trials had it."""

    iteration: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray


def curve_band(series: Series, level: int, split: str, metric: str) -> Band | None:
    by_iter: dict[int, list[float]] = {}
    for (_, lv), run in sorted(series.runs.items()):
        curve = run.curves.get(split)
        if lv != level or curve is None:
            continue
        for it, v in zip(curve.iteration.tolist(), curve.values[metric].tolist(), strict=True):
            by_iter.setdefault(it, []).append(v)
    if not by_iter:
        return None
    iters = sorted(by_iter)
    stats = [mean_std(by_iter[i]) for i in iters]
    return Band(
        np.array(iters),
        np.array([s.mean for s in stats]),
        np.array([s.std for s in stats]),
        np.array([s.n for s in stats]),
    )


def select_levels(
    available: dict[int, float], targets: tuple[float, ...] = PAPER_LEVELS
) -> list[tuple[int, int]]:
    """For each target % remaining, the available level nearest to it (on a log scale), as
    (target index, level); a level that is nearest to several targets is kept once."""
    chosen: list[tuple[int, int]] = []
    if not available:
        return chosen
    seen = set()
    for index, target in enumerate(targets):
        level = min(available, key=lambda lv: abs(math.log(available[lv] / target)))
        if level not in seen:
            seen.add(level)
            chosen.append((index, level))
    return chosen


def surviving_initial_weights(series: Series, level: int) -> dict[str, list[np.ndarray]]:
    """Per layer, one array per trial: the values the level started training from (its
    init.safetensors) of the weights its mask keeps."""
    out: dict[str, list[np.ndarray]] = {}
    for (_, lv), run in sorted(series.runs.items()):
        files = run.level_dir
        if lv != level or not (files.init.is_file() and files.masks.is_file()):
            continue
        init, masks = load_tensors(files.init), load_tensors(files.masks)
        for name, mask in masks.items():
            out.setdefault(name, []).append(init[name].numpy()[mask.numpy() > 0])
    return out


def layer_shapes(series: Series) -> dict[str, tuple[int, ...]]:
    """Shape of each prunable weight (out, in), from the first masks file found."""
    for run in series.runs.values():
        if run.level_dir.masks.is_file():
            return {n: tuple(t.shape) for n, t in load_tensors(run.level_dir.masks).items()}
    return {}
