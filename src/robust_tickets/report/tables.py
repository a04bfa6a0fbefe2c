"""The report's tables: test accuracy (natural and adversarial), mean ± std over trials, per %
of weights remaining, at one iteration; beside the paper's values where the config matches."""

from __future__ import annotations

import math
from typing import Any

from robust_tickets.report.aggregate import Stat, level_stat, table_iteration
from robust_tickets.report.formats import Table
from robust_tickets.report.load import Series
from robust_tickets.report.paper import (
    PAPER_ITERATION,
    PAPER_LEVELS,
    PAPER_TRIALS,
    PaperCell,
    paper_cell,
    paper_level,
    paper_rows,
    setup_differences,
)
from robust_tickets.report.style import DATASET_NAMES, pct, setting_title, training_mode

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
    if at == PAPER_ITERATION and at >= train_iters:  # the default: the paper's iteration
        return (
            f"Test accuracy at iteration {iteration:,}, the last evaluated one: {why} (the "
            f"paper's tables are at iteration {at:,})."
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
        header += ["paper natural", "Δ natural (pp)", "paper adversarial", "Δ adversarial (pp)"]
    raw_header = [
        "experiment", "strategy", "dataset", "attack", "eps", "adv_train", "level", "remaining",
        "iteration", "n", "natural_pct_mean", "natural_pct_std", "adversarial_pct_mean",
        "adversarial_pct_std", "paper_natural_pct_mean", "paper_natural_pct_std",
        "paper_adversarial_pct_mean", "paper_adversarial_pct_std", "natural_diff_pct",
        "adversarial_diff_pct", "natural_diff_uncertainty_pct", "adversarial_diff_uncertainty_pct",
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
        extra: list[Any] = [None] * 8
        if paper is not None:
            texts, diffs = [], []
            for stat, kind in ((nat, "natural"), (adv, "attack")):
                cell = cells.get(kind)
                if cell is None:
                    texts += ["", ""]
                    diffs += [None, None]
                    continue
                text, diff, u = diff_cell(stat, cell)
                texts += [f"{cell.mean:.2f} ± {cell.std:.2f}", text]
                diffs += [diff, u]
            row += texts
            if cells:
                extra = [
                    cells["natural"].mean, cells["natural"].std,
                    cells["attack"].mean, cells["attack"].std,
                    diffs[0], diffs[2], diffs[1], diffs[3],
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
            "sparsity levels. Δ = ours − paper in percentage points, from the values as shown; "
            f"± is the standard error of that difference, √(s²/n + s_paper²/{PAPER_TRIALS})."
        )
        differences = setup_differences(flat)
        if differences:
            notes.append(
                "This run's setup differs from the paper's in: " + "; ".join(differences) + "."
            )
    notes += series.notes
    return Table(
        slug=slug,
        title=f"Test accuracy at iteration {iteration:,}, every level, strategy {series.label}: "
        f"{setting_title(flat)}",
        header=header,
        rows=rows,
        raw_header=raw_header,
        raw_rows=raw_rows,
        notes=notes,
    )


# ---- the summary: the paper's six rows, ours beside the paper's -----------------------------
def shown(value: float) -> float:
    """A percentage as the table prints it (2 decimals), so Δ is computed from what is read."""
    return round(value, 2)


def diff_cell(ours: Stat, paper: PaperCell) -> tuple[str, float | None, float | None]:
    """Δ = ours − paper from the displayed values, with its uncertainty: the standard error of
    a difference of two means, √(s²/n + s_p²/n_p), from both stds (NaN when n < 2)."""
    if ours.n == 0:
        return "—", None, None
    diff = shown(ours.mean * 100) - paper.mean
    if ours.n < 2 or math.isnan(ours.std):
        return f"{diff:+.2f} (n=1, no spread)".replace("-", "−"), round(diff, 2), None
    u = math.sqrt(shown(ours.std * 100) ** 2 / ours.n + paper.std**2 / PAPER_TRIALS)
    return f"{diff:+.2f} ± {u:.2f}".replace("-", "−"), round(diff, 2), round(u, 2)


def summary_table(series: Series, at: int, reference=None, slug: str = "summary") -> Table:
    """The paper's six sparsity rows for one experiment: ours, the paper's value and Δ ± its
    uncertainty for natural and adversarial test accuracy; a row the run did not reach says so.
    `reference` (a figures.Reference) adds a published replication's values as a column."""
    iteration = table_iteration(series.config, at)
    flat = series.flat
    paper = paper_rows(flat)
    attack = f"{flat['attack'].upper()} ε={flat['eps']:g}"
    available = {lv: series.remaining(lv) for lv in series.levels()}
    sparsest = min(available.values())
    header = ["% left", "level"]
    for what in ("natural", attack):
        header.append(f"{what}: ours")
        if paper is not None:
            header += [f"{what}: paper", "Δ (pp)"]
        if reference is not None:
            header.append(f"{what}: replication")
    raw_header = [
        "remaining", "level", "iteration", "n", "metric", "ours_pct_mean", "ours_pct_std",
        "paper_pct_mean", "paper_pct_std", "diff_pct", "diff_uncertainty_pct",
        "replication_pct_mean", "replication_pct_std", "reached",
    ]  # fmt: skip
    rows, raw_rows = [], []
    for target in PAPER_LEVELS:
        level = next((lv for lv, r in available.items() if paper_level(r) == target), None)
        row = [pct(target), "—" if level is None else str(level)]
        for metric, kind in (("acc", "natural"), ("adv_acc", "attack")):
            stat = (
                level_stat(series, level, "test", metric, iteration)
                if level is not None
                else Stat(math.nan, math.nan, 0)
            )
            if level is None:
                row.append(f"not reached (run ends at {pct(sparsest)}%)")
            else:
                row.append(
                    fmt_stat(stat) + (f" [n={stat.n}]" if stat.n < len(series.trials()) else "")
                )
            cell = paper_cell(paper, target).get(kind) if paper is not None else None
            diff = (None, None)
            if paper is not None:
                if cell is None:
                    row += ["", ""]
                else:
                    text, *diff = diff_cell(stat, cell) if level is not None else ("—", None, None)
                    row += [f"{cell.mean:.2f} ± {cell.std:.2f}", text]
            ref = reference.points.get(target, {}).get(kind) if reference is not None else None
            if reference is not None:
                row.append("—" if ref is None else f"{ref[0]:.2f} ± {ref[1]:.2f}")
            raw_rows.append(
                [
                    target, level, iteration, stat.n, metric, _pct_or_none(stat.mean),
                    _pct_or_none(stat.std), cell.mean if cell else None, cell.std if cell else None,
                    *diff, ref[0] if ref else None, ref[1] if ref else None, level is not None,
                ]
            )  # fmt: skip
        rows.append(row)
    trials = series.trials()
    notes = [
        f"Ours: test accuracy at iteration {iteration:,} of {series.config.train.train_iters:,} "
        f"per level, mean ± sample std over {len(trials)} trial(s) ({_seeds(series)}).",
    ]
    if paper is not None:
        notes.append(
            f"Paper: Cosentino et al. 2019, Table {2 if flat['dataset'] == 'fashion_mnist' else 1}"
            f", reset strategy, iteration {PAPER_ITERATION:,} of 50,000, mean ± std over "
            f"{PAPER_TRIALS} trials. Δ = ours − paper in percentage points, from the values as "
            f"shown; ± is the standard error of that difference, √(s²/n + s_paper²/{PAPER_TRIALS})."
        )
        differences = setup_differences(flat)
        if differences:
            notes.append("This run differs from the paper in: " + "; ".join(differences) + ".")
    else:
        notes.append(
            "The paper tabulates only the reset strategy at its own setup: no paper column."
        )
    if reference is not None:
        notes.append(f"Replication: {reference.label}, mean ± std over its trials; for reference.")
    title = (
        f"{setting_title(flat)} · strategy {series.label}: test accuracy (%) at the paper's "
        f"six sparsities, ours at iteration {iteration:,}"
        + (f" vs the paper's at {PAPER_ITERATION:,}" if paper is not None else "")
    )
    return Table(
        slug=slug, title=title, header=header, rows=rows, raw_header=raw_header,
        raw_rows=raw_rows, notes=notes,
    )  # fmt: skip


def _seeds(series: Series) -> str:
    trials = series.trials()
    return (
        f"trials {', '.join(map(str, trials))} of base seed {series.config.seed}, each with its "
        "own derived seeds"
    )


# ---- the paper's Tables 1-2 layout: every comparable experiment in one table ----------------
def paper_layout_table(
    series: list[Series], at: int, slug: str = "paper_tables_1_2"
) -> Table | None:
    """The paper's Tables 1-2 as one table: a row per (dataset, attack, training, sparsity) that
    a compared experiment reached (dense-only runs included), ours beside the paper's with Δ.
    None when no experiment has a paper counterpart."""
    compared = [s for s in series if s.strategy == "reset" and paper_rows(s.flat) is not None]
    if not compared:
        return None
    compared.sort(
        key=lambda s: (s.flat["dataset"] != "fashion_mnist", s.flat["attack"] != "fgsm",
                       not s.flat["adv_train"], s.name)
    )  # fmt: skip
    header = [
        "dataset", "attack", "training", "% weights (level)", "natural: ours", "paper", "Δ",
        "attack: ours", "paper", "Δ",
    ]  # fmt: skip
    raw_header = [
        "dataset", "attack", "adv_train", "remaining", "level", "iteration", "n",
        "natural_ours", "natural_paper", "natural_paper_std", "natural_diff",
        "attack_ours", "attack_paper", "attack_paper_std", "attack_diff", "experiment",
    ]  # fmt: skip
    rows, raw_rows, iterations = [], [], set()
    for s in compared:
        flat, paper = s.flat, paper_rows(s.flat)
        iteration = table_iteration(s.config, at)
        iterations.add(iteration)
        by_target = {paper_level(s.remaining(lv)): lv for lv in s.levels()}
        for target in PAPER_LEVELS:
            level = by_target.get(target)
            if level is None:
                continue
            row = [
                DATASET_NAMES.get(flat["dataset"], flat["dataset"]), flat["attack"].upper(),
                training_mode(flat), f"{pct(target)} ({level})",
            ]  # fmt: skip
            raw = [flat["dataset"], flat["attack"], bool(flat["adv_train"]), target, level,
                   iteration]  # fmt: skip
            stats = []
            for metric, kind in (("acc", "natural"), ("adv_acc", "attack")):
                stat = level_stat(s, level, "test", metric, iteration)
                cell = paper_cell(paper, target)[kind]
                text, diff, _ = diff_cell(stat, cell)
                row += [fmt_stat(stat), f"{cell.mean:.2f} ± {cell.std:.2f}",
                        text.split(" (")[0]]  # fmt: skip
                stats.append((stat, cell, diff))
            raw.append(stats[0][0].n)
            for stat, cell, diff in stats:
                raw += [_pct_or_none(stat.mean), cell.mean, cell.std, diff]
            raw.append(s.name)
            rows.append(row)
            raw_rows.append(raw)
    trials = sorted({len(s.trials()) for s in compared})
    notes = [
        "Test accuracy (%) at iteration "
        + ", ".join(f"{i:,}" for i in sorted(iterations))
        + f" of each level; ours: mean ± sample std over {'/'.join(map(str, trials))} trial(s); "
        f"the paper (Cosentino et al. 2019, Tables 1-2, reset strategy): mean ± std over "
        f"{PAPER_TRIALS} trials at iteration {PAPER_ITERATION:,}. Δ = ours − paper in points. "
        '"Attack" is the accuracy on adversarial test examples made with the row\'s attack.',
    ]
    differences = sorted({d for s in compared for d in setup_differences(s.flat)})
    if differences:
        notes.append("These runs differ from the paper in: " + "; ".join(differences) + ".")
    return Table(
        slug=slug, title="The paper's Tables 1-2: ours beside the paper's", header=header,
        rows=rows, raw_header=raw_header, raw_rows=raw_rows, notes=notes,
    )  # fmt: skip
