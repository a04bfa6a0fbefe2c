"""One section per setting (experiments that differ only in strategy): test accuracy against
% of weights remaining, the answer (the paper's Figure 3); where pruned tickets start above
chance, why; every level of every experiment as a table; then what happens during training
(setting_curves) and to the surviving weights (setting_weights)."""

from __future__ import annotations

from typing import Any

import numpy as np

from robust_tickets.report.aggregate import Stat, level_stat, table_iteration, table_stat
from robust_tickets.report.data import ReportData
from robust_tickets.report.formats import STD_NOTE, Table, diff_cell, fmt_stat, pct_or_none
from robust_tickets.report.html import Note
from robust_tickets.report.load import Series, Setting
from robust_tickets.report.paper import (
    PAPER_ITERATION,
    PAPER_TRIALS,
    paper_cell,
    paper_rows,
    setup_differences,
)
from robust_tickets.report.plot import (
    MAX_WIDTH_IN,
    Drawn,
    Reference,
    band,
    percent_axis,
    spread,
    subplots,
    suptitle,
    trial_counts,
)
from robust_tickets.report.sections.base import Part
from robust_tickets.report.sections.setting_curves import (
    curve_comparisons,
    curves_figure,
    early_stop_figure,
)
from robust_tickets.report.sections.setting_weights import weights_figure
from robust_tickets.report.style import pct, strategy_color
from robust_tickets.results import objective_params


class SettingSection:
    def build(self, data: ReportData) -> list[Part]:
        return [setting_part(setting, data) for setting in data.settings]


def setting_part(setting: Setting, data: ReportData) -> Part:
    """The accuracy figure (the answer), the per-experiment tables, then figures 1, 2 and 4."""
    slug, at = setting.slug, data.at
    part = Part(
        setting.title,
        f"setting-{slug}",
        "Strategies: " + ", ".join(s.label for s in setting.series) + ".",
    )
    reference = data.reference(setting.primary().flat)
    part.figure(
        accuracy_figure(setting, at, [reference] if reference is not None else []),
        f"fig3_accuracy_{slug}",
        "Natural and adversarial test accuracy against % of weights remaining",
    )
    for note in (iteration0_note(setting), best_check_note(setting)):
        if note:
            part.add(Note(note))
    for s in setting.series:
        part.add(accuracy_table(s, at, f"table_{slug}_{s.label}"))
    for index, others in enumerate(curve_comparisons(setting)):
        part.figure(
            curves_figure(setting, others),
            f"fig1_curves_{slug}" + (f"_{index + 1}" if index else ""),
            "Test accuracy, adversarial test accuracy and test loss during training",
        )
    part.figure(early_stop_figure(setting), f"fig2_early_stop_{slug}", "Early stopping")
    for series in setting.series:
        if len(series.levels()) > 1:
            part.figure(
                weights_figure(series),
                f"fig4_weights_{slug}_{series.label}",
                f"Surviving initial weights, strategy {series.label}",
            )
    return part


def iteration0_note(setting: Setting) -> str | None:
    """Say so where pruned tickets are already far above chance before training (iteration 0):
    their weights are reset, but the mask carries what earlier levels learned."""
    series = next((s for s in setting.series if s.strategy == "reset"), None)
    if series is None or len(series.levels()) < 2:
        return None
    start = {
        lv: level_stat(series, lv, "test", "acc", 0) for lv in series.levels() if lv
    }  # pruned levels only
    start = {lv: st for lv, st in start.items() if st.n}
    dense = level_stat(series, 0, "test", "acc", 0)
    if not start or max(st.mean for st in start.values()) < 0.25:
        return None
    best = max(start, key=lambda lv: start[lv].mean)
    low = min(st.mean for st in start.values())
    dense_text = f"; the dense network starts at {dense.mean * 100:.1f}%" if dense.n else ""
    return (
        f"Before training (iteration 0), the pruned tickets of strategy {series.label} already "
        f"classify {low * 100:.1f}–{start[best].mean * 100:.1f}% of the test images "
        f"(highest at {pct(series.remaining(best))}% of the weights){dense_text}; chance is 10%. "
        "This is expected, not a failed reset: each level's weights are reset to their initial "
        "values, but the mask that selects them was chosen from the weights trained at the "
        "previous level, and carries information by itself."
    )


def best_check_note(setting: Setting) -> str | None:
    """Say which levels end with the weights of the overfitting check's best check rather than
    those of their last step: what the tables and figures show is not what was saved."""
    found = []
    for series in setting.series:
        for (trial, level), run in sorted(series.runs.items()):
            if run.best_check is not None:
                where = f"step {run.best_check['step']:,} (epoch {run.best_check['epoch']:g})"
                found.append(
                    f"{series.label} trial {trial} level {level} ({pct(run.remaining)}% left): "
                    + where
                )
    if not found:
        return None
    return (
        "Final weights from the catastrophic-overfitting check's best check, not the level's "
        "end (--co-action stop or restore): " + "; ".join(found) + ". The tables and figures "
        "show the evaluations taken while training; the saved weights, which the next level "
        "prunes and `evaluate` attacks, are the best check's (their evaluation: done.json "
        "`final_weights_eval`)."
    )


def dense_baseline(setting: Setting, at: int) -> tuple[str, dict[str, Stat]] | None:
    """The dense network's test accuracy: the `dense` strategy where the setting has it, else
    level 0 of the primary series (the same unpruned network: same seeds, same training)."""
    dense = setting.by_strategy("dense")
    source = dense[0] if dense else setting.primary()
    if 0 not in source.levels():
        return None
    stats = {m: table_stat(source, 0, m, at) for m in ("acc", "adv_acc")}
    if not stats["acc"].n:
        return None
    label = "dense baseline" if dense else f"dense network = level 0 of {source.label}"
    return label, stats


def accuracy_figure(
    setting: Setting, at: int, references: list[Reference] | None = None
) -> Drawn | None:
    """Natural and adversarial test accuracy at iteration `at` against % weights remaining,
    one line per pruning strategy, the dense network as a dashed line with its band, the
    paper's values as x, and any other published reference as a grey line."""
    fig, axes = subplots(1, 2, figsize=(MAX_WIDTH_IN, 5.2))
    all_remaining: list[float] = []
    iterations = set()
    data: list[dict[str, Any]] = []
    lines = []
    for series in setting.series:
        iteration = table_iteration(series.config, at)
        levels = series.levels()
        if series.strategy == "dense" or len(levels) < 2:
            continue  # a single level is drawn as the dense line (or not at all)
        iterations.add(iteration)
        x = [series.remaining(lv) for lv in levels]
        color = strategy_color(series.strategy)
        for ax, metric in zip(axes, ("acc", "adv_acc"), strict=True):
            stats = [table_stat(series, lv, metric, at) for lv in levels]
            keep = [i for i, s in enumerate(stats) if s.n]
            if not keep:
                continue
            xs = [x[i] for i in keep]
            all_remaining += xs
            band(
                ax,
                xs,
                [stats[i].mean for i in keep],
                [stats[i].std for i in keep],
                color,
                label=series.label,
            )
            data += [
                {"line": series.label, "metric": metric, "remaining": round(x[i], 4),
                 "level": levels[i], "iteration": iteration, "mean": stats[i].mean * 100,
                 "std": stats[i].std * 100, "n": stats[i].n}
                for i in keep
            ]  # fmt: skip
        lines.append(series.label)
    baseline = dense_baseline(setting, at)
    if not all_remaining and baseline is None:
        return None
    all_remaining = all_remaining or [100.0]
    if baseline is not None:
        label, stats = baseline
        for ax, metric in zip(axes, ("acc", "adv_acc"), strict=True):
            stat = stats[metric]
            ax.axhline(stat.mean * 100, color="#222222", ls="--", lw=1.4, label=label)
            if np.isfinite(stat.std):
                ax.axhspan(
                    (stat.mean - stat.std) * 100,
                    (stat.mean + stat.std) * 100,
                    color="#222222",
                    alpha=0.08,
                    lw=0,
                )
            data.append(
                {"line": label, "metric": metric, "remaining": 100.0, "level": 0,
                 "iteration": "", "mean": stat.mean * 100, "std": stat.std * 100, "n": stat.n}
            )  # fmt: skip
    lo, hi = min(all_remaining) / 1.15, max(all_remaining) * 1.15
    drawn_refs: list[Reference] = []
    primary = setting.primary()
    paper = paper_rows(primary.flat) if primary.strategy == "reset" else None
    refs: list[tuple[Reference, dict[str, Any]]] = []
    if paper is not None:
        points = {r: {k: (c.mean, c.std) for k, c in cells.items()} for r, cells in paper.items()}
        label = f"paper, reset ({PAPER_ITERATION // 1000}k it., {PAPER_TRIALS} trials)"
        refs.append((Reference(label, points), {"fmt": "x", "color": "black", "ms": 8}))
    for ref in references or []:
        refs.append((ref, {"fmt": "D-", "color": "0.55", "ms": 4, "lw": 1.2}))
    for ref, style in refs:
        xs = sorted((r for r in ref.points if lo <= r <= hi), reverse=True)
        if not xs:
            continue
        drawn_refs.append(ref)
        for ax, kind in zip(axes, ("natural", "attack"), strict=True):
            ys = [ref.points[r][kind][0] for r in xs]
            es = [ref.points[r][kind][1] for r in xs]
            # a single trial has no error bar (NaN std), not a bar of zero length
            ax.errorbar(xs, ys, yerr=np.nan_to_num(es), capsize=3, label=ref.label, **style)
            data += [
                {"line": ref.label, "metric": "acc" if kind == "natural" else "adv_acc",
                 "remaining": r, "level": "", "iteration": "", "mean": y, "std": e, "n": ""}
                for r, y, e in zip(xs, ys, es, strict=True)
            ]  # fmt: skip
    for ax, ylabel in zip(
        axes, ("natural test accuracy (%)", "adversarial test accuracy (%)"), strict=True
    ):
        percent_axis(ax, all_remaining)
        ax.set_ylabel(ylabel)
    its = ", ".join(f"{i:,}" for i in sorted(iterations)) or "—"
    axes[0].set_title(f"natural, at iteration {its}")
    axes[1].set_title(
        f"under {setting.flat['attack'].upper()} ε={setting.flat['eps']:g}, at iteration {its}"
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), frameon=False)
    suptitle(fig, setting.flat, setting.title, "Test accuracy against sparsity", setting.series)
    parts = [
        f"Test accuracy at iteration {its} of each level, {spread(setting.series)} "
        f"(trials: {trial_counts(setting.series)})"
        + (f"; one line per pruning strategy ({', '.join(lines)})" if lines else "")
        + "."
    ]
    if baseline is not None:
        band_text = ", band ±1 std" if np.isfinite(baseline[1]["acc"].std) else ""
        parts.append(
            f"Dashed black: the {baseline[0]} (100% of the weights, same iteration){band_text}."
        )
    if paper is not None and any(r.label.startswith("paper") for r in drawn_refs):
        parts.append(
            f"x with error bars: the paper's values (reset, iteration {PAPER_ITERATION:,} of "
            f"50,000, mean ± std over {PAPER_TRIALS} trials), at its sparsities in this range."
        )
    for ref in drawn_refs:
        if not ref.label.startswith("paper"):
            bars = "no error bar: one trial" if ref.trials == 1 else "error bars ±1 std"
            parts.append(f"Grey diamonds: the {ref.label}, for reference ({bars}).")
    return Drawn(fig, data, " ".join(parts))


# ---- every level of one experiment -----------------------------------------------------
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
    """One experiment: every level; the paper's value and Δ where it has one, in the CSV always
    and on the page only for a single-level run (otherwise the summary's table shows them)."""
    iteration = table_iteration(series.config, at)
    flat = series.flat
    paper = paper_rows(flat)
    show_paper = paper is not None and len(series.levels()) == 1
    header = ["% left", "level", "n", "natural acc. (%)", "adversarial acc. (%)"]
    if show_paper:
        header += ["paper natural", "Δ natural (pp)", "paper adversarial", "Δ adversarial (pp)"]
    raw_header = [
        "experiment", "strategy", "dataset", "attack", "eps", "adv_train", "level", "remaining",
        "iteration", "n", "natural_pct_mean", "natural_pct_std", "adversarial_pct_mean",
        "adversarial_pct_std", "paper_natural_pct_mean", "paper_natural_pct_std",
        "paper_adversarial_pct_mean", "paper_adversarial_pct_std", "natural_diff_pct",
        "adversarial_diff_pct", "natural_diff_uncertainty_pct", "adversarial_diff_uncertainty_pct",
        "objective", "objective_params",
    ]  # fmt: skip
    rows, raw_rows, waiting = [], [], []
    trials = len(series.trials())
    for level in series.levels():
        remaining = series.remaining(level)
        nat = table_stat(series, level, "acc", at)
        adv = table_stat(series, level, "adv_acc", at)
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
            if show_paper:
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
                pct_or_none(nat.mean), pct_or_none(nat.std), pct_or_none(adv.mean),
                pct_or_none(adv.std), *extra, flat["objective"], objective_params(flat),
            ]
        )  # fmt: skip
    notes = [iteration_note(iteration, at, series.config.train.train_iters), STD_NOTE]
    notes.append(f"Trials found: {', '.join(map(str, series.trials()))}.")
    if waiting:
        notes.append(
            f"Level(s) with fewer trials at iteration {iteration:,} (n of {trials}): "
            f"{', '.join(waiting)}."
        )
    if paper is not None and not show_paper:
        notes.append(
            "The paper's values and Δ at its six sparsities: the summary's table of this "
            "experiment (and this table's CSV)."
        )
    elif show_paper:
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
        f"{series.title}",
        header=header,
        rows=rows,
        raw_header=raw_header,
        raw_rows=raw_rows,
        notes=notes,
    )
