"""The report's tables: test accuracy (natural and adversarial), mean ± std over trials, per %
of weights remaining, at one iteration; beside the paper's values where the config matches."""

from __future__ import annotations

import math
from typing import Any

from robust_tickets.report.aggregate import Stat, level_stat, table_iteration
from robust_tickets.report.formats import Table
from robust_tickets.report.load import Series, strategy_rank
from robust_tickets.report.paper import (
    PAPER_ITERATION,
    PAPER_TRIALS,
    paper_cell,
    paper_rows,
    setup_differences,
)
from robust_tickets.report.style import DATASET_NAMES, pct, setting_title

STD_NOTE = "Cells: mean ± sample standard deviation (ddof=1) over trials, in percent."


def fmt_stat(stat: Stat) -> str:
    if stat.n == 0:
        return "—"
    if math.isnan(stat.std):
        return f"{stat.mean * 100:.2f}"
    return f"{stat.mean * 100:.2f} ± {stat.std * 100:.2f}"


def _pct_or_none(value: float) -> float | None:
    return None if math.isnan(value) else round(value * 100, 4)


def iteration_note(iteration: int, at: int, train_iters: int) -> str:
    if iteration == at:
        return f"Test accuracy at iteration {iteration:,}."
    why = (
        f"these runs train {train_iters:,} iterations per level"
        if at >= train_iters
        else f"iteration {at:,} was not evaluated"
    )
    return (
        f"Test accuracy at iteration {iteration:,}, the last evaluated one: {at:,} was asked "
        f"for, but {why}."
    )


def accuracy_table(series: Series, at: int, slug: str) -> Table:
    """One experiment: every level, with the paper's value and the difference where it has one."""
    iteration = table_iteration(series.config, at)
    flat = series.flat
    paper = paper_rows(flat)
    header = ["% left", "level", "n", "natural acc. (%)", "adversarial acc. (%)"]
    if paper is not None:
        header += ["paper natural", "Δ natural", "paper adversarial", "Δ adversarial"]
    raw_header = [
        "experiment", "strategy", "dataset", "attack", "eps", "adv_train", "level", "remaining",
        "iteration", "n", "natural_pct_mean", "natural_pct_std", "adversarial_pct_mean",
        "adversarial_pct_std", "paper_natural_pct_mean", "paper_natural_pct_std",
        "paper_adversarial_pct_mean", "paper_adversarial_pct_std", "natural_diff_pct",
        "adversarial_diff_pct",
    ]  # fmt: skip
    rows, raw_rows, waiting = [], [], []
    trials = len(series.trials())
    for level in series.levels():
        remaining = series.remaining(level)
        nat = level_stat(series, level, "test", "acc", iteration)
        adv = level_stat(series, level, "test", "adv_acc", iteration)
        if nat.n < trials:
            waiting.append(f"{level} ({nat.n} of {trials})")
        row = [pct(remaining), str(level), str(nat.n), fmt_stat(nat), fmt_stat(adv)]
        cells = paper_cell(paper, remaining) if paper is not None else {}
        extra: list[Any] = [None] * 6
        if paper is not None:
            shown = []
            for stat, kind in ((nat, "natural"), (adv, "attack")):
                cell = cells.get(kind)
                if cell is None:
                    shown += ["", ""]
                    continue
                diff = stat.mean * 100 - cell.mean if stat.n else math.nan
                shown += [
                    f"{cell.mean:.2f} ± {cell.std:.2f}",
                    "—" if math.isnan(diff) else f"{diff:+.2f}",
                ]
            row += shown
            if cells:
                extra = [
                    cells["natural"].mean, cells["natural"].std,
                    cells["attack"].mean, cells["attack"].std,
                    _pct_or_none(nat.mean - cells["natural"].mean / 100),
                    _pct_or_none(adv.mean - cells["attack"].mean / 100),
                ]  # fmt: skip
        rows.append(row)
        raw_rows.append(
            [
                series.name, series.strategy, flat["dataset"], flat["attack"], flat["eps"],
                flat["adv_train"], level, round(remaining, 4), iteration, nat.n,
                _pct_or_none(nat.mean), _pct_or_none(nat.std), _pct_or_none(adv.mean),
                _pct_or_none(adv.std), *extra,
            ]
        )  # fmt: skip
    notes = [iteration_note(iteration, at, series.config.train.train_iters), STD_NOTE]
    notes.append(f"Trials found: {', '.join(map(str, series.trials()))}.")
    if waiting:
        notes.append(
            f"Level(s) with fewer trials at iteration {iteration:,} (n of {trials}): "
            f"{', '.join(waiting)}."
        )
    if paper is not None:
        notes.append(
            f"Paper: Cosentino et al. 2019, reset strategy, test accuracy at iteration "
            f"{PAPER_ITERATION:,}, mean ± std over {PAPER_TRIALS} trials, at the paper's six "
            "sparsity levels. Δ = ours − paper, in percentage points."
        )
        differences = setup_differences(flat)
        if differences:
            notes.append(
                "This run's setup differs from the paper's in: " + "; ".join(differences) + "."
            )
    notes += series.notes
    return Table(
        slug=slug,
        title=f"Test accuracy, strategy {series.label}: {setting_title(flat)}",
        header=header,
        rows=rows,
        raw_header=raw_header,
        raw_rows=raw_rows,
        notes=notes,
    )


# The paper's layout: rows = % left, columns = dataset x attack x (natural | attack), each cell
# "normally trained / adversarially trained". A grid holds series equal in everything else.
GRID_AXES = (
    "dataset",
    "attack",
    "eps",
    "step_size",
    "steps",
    "random_start",
    "adv_train",
    "prune_iters",
    "rewind_iter",
)


def grid_tables(series: list[Series], at: int) -> list[Table]:
    groups: dict[tuple, list[Series]] = {}
    for s in series:
        key = tuple(sorted((k, v) for k, v in s.flat.items() if k not in GRID_AXES))
        groups.setdefault(key, []).append(s)
    ordered = sorted(groups.values(), key=lambda g: (strategy_rank(g[0].strategy), str(g[0].flat)))
    return [_grid(members, at, index) for index, members in enumerate(ordered)]


def _grid(members: list[Series], at: int, index: int) -> Table:
    flat0 = members[0].flat
    iteration = table_iteration(members[0].config, at)
    columns = sorted({(s.flat["dataset"], s.flat["attack"], s.flat["eps"]) for s in members})
    modes = sorted({s.flat["adv_train"] for s in members})
    cells: dict[tuple, Series] = {}
    for s in members:
        f = s.flat
        cells.setdefault((f["dataset"], f["attack"], f["eps"], f["adv_train"]), s)
    remaining = sorted(
        {round(s.remaining(lv), 1) for s in members for lv in s.levels()}, reverse=True
    )
    header = ["% left"]
    for dataset, attack, eps in columns:
        name = f"{DATASET_NAMES.get(dataset, dataset)} {attack.upper()} ε={eps:g}"
        header += [f"{name} natural", f"{name} attack"]
    rows, raw_rows = [], []
    for r in remaining:
        row = [pct(r)]
        for dataset, attack, eps in columns:
            for metric in ("acc", "adv_acc"):
                parts = []
                for mode in modes:
                    s = cells.get((dataset, attack, eps, mode))
                    level = _level_at(s, r) if s is not None else None
                    if s is None or level is None:
                        parts.append("—")
                        continue
                    stat = level_stat(s, level, "test", metric, iteration)
                    parts.append(fmt_stat(stat) + _n_mark(stat, s))
                    raw_rows.append([
                        r, dataset, attack, eps, mode, metric, s.strategy, iteration, stat.n,
                        _pct_or_none(stat.mean), _pct_or_none(stat.std),
                    ])  # fmt: skip
                row.append(" / ".join(parts))
        rows.append(row)
    mode_names = " / ".join("adversarially trained" if m else "normally trained" for m in modes)
    notes = [
        iteration_note(iteration, at, members[0].config.train.train_iters),
        f"Each cell: {mode_names}. 'attack' = accuracy on adversarial test examples made "
        "with that column's attack.",
        STD_NOTE,
        "Trials: " + "; ".join(f"{s.name}: {len(s.trials())}" for s in members) + ".",
    ]
    if any(_n_mark_any(s, iteration) for s in members):
        notes.append("[n=k]: a cell over fewer trials than its experiment has (still running).")
    strategy = ", ".join(sorted({s.label for s in members}))
    return Table(
        slug=f"grid_{index}_{strategy.replace(' ', '_')}" if index else f"grid_{strategy}",
        title=f"Test accuracy (%), strategy {strategy}, {flat0['model']}, "
        f"{flat0['train_iters']:,} iterations/level, at iteration {iteration:,}",
        header=header,
        rows=rows,
        raw_header=[
            "remaining",
            "dataset",
            "attack",
            "eps",
            "adv_train",
            "metric",
            "strategy",
            "iteration",
            "n",
            "pct_mean",
            "pct_std",
        ],
        raw_rows=raw_rows,
        notes=notes,
    )


def _level_at(series: Series, remaining: float) -> int | None:
    for level in series.levels():
        if round(series.remaining(level), 1) == remaining:
            return level
    return None


def _n_mark(stat: Stat, series: Series) -> str:
    return f" [n={stat.n}]" if 0 < stat.n < len(series.trials()) else ""


def _n_mark_any(series: Series, iteration: int) -> bool:
    trials = len(series.trials())
    return any(
        0 < level_stat(series, lv, "test", "acc", iteration).n < trials for lv in series.levels()
    )
