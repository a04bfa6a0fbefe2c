"""The summary: the strong-attack finding, why our numbers differ from the paper's, the paper's
Tables 1-2 layout over every compared experiment (when there are several), and per experiment
the paper's six sparsities, ours beside the paper's and the published replication's."""

from __future__ import annotations

import math
from collections import defaultdict

from robust_tickets.report.aggregate import (
    Stat,
    evaluation_name,
    table_iteration,
    table_label,
    table_stat,
)
from robust_tickets.report.data import ReportData
from robust_tickets.report.formats import (
    Table,
    diff_cell,
    fmt_reference,
    fmt_stat,
    pct_or_none,
)
from robust_tickets.report.header import preset_name
from robust_tickets.report.html import Note
from robust_tickets.report.load import Series, strategy_rank
from robust_tickets.report.paper import (
    PAPER_ITERATION,
    PAPER_LEVELS,
    PAPER_SETUP,
    PAPER_TRIALS,
    paper_cell,
    paper_level,
    paper_rows,
    setup_differences,
)
from robust_tickets.report.plot import Reference
from robust_tickets.report.sections.base import Part
from robust_tickets.report.sections.robustness import finding
from robust_tickets.report.style import DATASET_NAMES, pct, training_mode
from robust_tickets.schedule import level_steps

PAPER_NOTE = (
    "Δ = ours − paper in percentage points, from the values as shown; ± is the standard error "
    f"of that difference, √(s²/n + s_paper²/{PAPER_TRIALS}); a single trial (n=1) has no spread."
)


class SummarySection:
    def build(self, data: ReportData) -> list[Part]:
        part = Part(
            "Summary: the paper's six sparsities, ours beside the paper's",
            "summary",
            "One table per experiment with more than one level, rows = the paper's six levels "
            "(100, 51.3, 16.9, 8.7, 3.6, 1.8% of the weights, as in its Tables 1-2). The "
            "sections below have the figures and every level of every experiment.",
        )
        for strong in data.strongs:
            part.add(Note(finding(strong) + " (details: the strong-attack section)"))
        for text in differences(data.series, data.at):
            part.add(Note("Why these numbers differ from the paper's: " + text))
        part.add(paper_layout_table(data.series, data.at))
        pruned = sorted(
            (s for s in data.series if len(s.levels()) > 1),
            key=lambda s: (strategy_rank(s.strategy), s.name),
        )
        for index, s in enumerate(pruned):
            reference = data.reference(s.flat)
            part.add(summary_table(s, data.at, reference, f"summary_{index}_{s.label}"))
        if not pruned:
            part.add(Note("No experiment with pruned levels: nothing to tabulate."))
        if not data.strongs:
            part.add(
                Note(
                    "No strong-attack evaluation found: run `robust-tickets evaluate` on the "
                    "results to see how the training attack's accuracy compares with stronger "
                    "attacks."
                )
            )
        return [part]


def differences(series: list[Series], at: int) -> list[str]:
    """Why the numbers differ from the paper's, for experiments compared with it."""
    out = []
    for s in series:
        if paper_rows(s.flat) is None:
            continue
        t = s.config.train
        items = setup_differences(s.flat)
        if len(s.trials()) != PAPER_TRIALS:
            items.append(f"{len(s.trials())} trial(s) (paper {PAPER_TRIALS})")
        if table_label(s.config, at) != PAPER_ITERATION:
            items.append(
                f"accuracy read at {evaluation_name(s.config, at)} (paper {PAPER_ITERATION:,})"
            )
        text = f"{s.label}: " + "; ".join(items) + "." if items else ""
        if t.train_iters < PAPER_ITERATION:
            share = t.train_iters / PAPER_SETUP["train_iters"]
            text += (
                f" Every level here trains {share:.1%} as long as the paper's, "
                "so accuracies sit below the paper's, and the dense network is hit hardest: it "
                "starts from random weights, while each pruned ticket starts from a mask that "
                "already carries what earlier levels learned. Compare shapes across sparsity, "
                "and read Δ as mostly the cost of the short run: whether full-length runs match "
                "the paper is what the full replication (docs/replication) is for."
            )
        if preset_name(s) == "finding":
            text += (
                " The `finding` preset is the main job's: sized by measurement to finish, with "
                "its strong-attack check and this report, within 5 minutes on 2 CPU cores."
            )
        if text:
            out.append(text)
    return out


def summary_table(
    series: Series, at: int, reference: Reference | None = None, slug: str = "summary"
) -> Table:
    """The paper's six sparsity rows for one experiment: ours, the paper's value and Δ ± its
    uncertainty for natural and adversarial test accuracy; a row the run did not reach says so.
    `reference` adds a published replication's values as a column."""
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
            header += ["paper", "Δ (pp)"]
        if reference is not None:  # one trial: said once in the header, not in every cell
            header.append("replication" + (" (n=1)" if reference.trials == 1 else ""))
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
                table_stat(series, level, metric, at)
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
                row.append("—" if ref is None else fmt_reference(*ref))
            raw_rows.append(
                [
                    target, level, iteration, stat.n, metric, pct_or_none(stat.mean),
                    pct_or_none(stat.std), cell.mean if cell else None, cell.std if cell else None,
                    *diff, ref[0] if ref else None,
                    ref[1] if ref and not math.isnan(ref[1]) else None, level is not None,
                ]
            )  # fmt: skip
        rows.append(row)
    trials = series.trials()
    notes = [
        f"Ours: test accuracy at {evaluation_name(series.config, at)} of "
        f"{level_steps(series.config):,} steps per level, mean ± sample std over "
        f"{len(trials)} trial(s) (trials "
        f"{', '.join(map(str, trials))} of base seed {series.config.seed}, each with its own "
        "derived seeds).",
    ]
    if paper is not None:
        notes.append(
            f"Paper: Cosentino et al. 2019, Table {2 if flat['dataset'] == 'fashion_mnist' else 1}"
            f", reset strategy (the original code: `rewind_trained`), iteration "
            f"{PAPER_ITERATION:,} (the original's label: step 25,021 of 50,040), mean ± std over "
            f"{PAPER_TRIALS} trials. {PAPER_NOTE}"
        )
        found = setup_differences(flat)
        if found:
            notes.append("This run differs from the paper in: " + "; ".join(found) + ".")
    else:
        notes.append(
            "No paper column: the paper tabulates only magnitude-pruned reset tickets of its own "
            "setup (model, eps, allocation and pruning rates)."
        )
    if reference is not None:
        spread = (
            "its single trial's value" if reference.trials == 1 else "mean ± std over its trials"
        )
        notes.append(f"Replication: {reference.label}, {spread}; for reference.")
    title = (
        f"{series.title} · strategy {series.label}: test accuracy (%) at the paper's "
        f"six sparsities, ours at {evaluation_name(series.config, at)}"
        + (f" vs the paper's at {PAPER_ITERATION:,}" if paper is not None else "")
    )
    return Table(
        slug=slug, title=title, header=header, rows=rows, raw_header=raw_header,
        raw_rows=raw_rows, notes=notes,
    )  # fmt: skip


def _row_labels(compared: list[Series]) -> dict[str, str]:
    """Experiments sharing a (dataset, attack, training) row group are told apart by the
    settings they differ in ("train_iters 400"); alone in its group, an experiment needs none."""
    groups: dict[tuple, list[Series]] = defaultdict(list)
    for s in compared:
        groups[(s.flat["dataset"], s.flat["attack"], s.flat["adv_train"])].append(s)
    labels = {}
    for members in groups.values():
        keys = sorted(members[0].flat) if len(members) > 1 else []
        differing = [k for k in keys if len({repr(m.flat[k]) for m in members}) > 1]
        for m in members:
            labels[m.name] = ", ".join(f"{k} {m.flat[k]}" for k in differing)
    return labels


def paper_layout_table(
    series: list[Series], at: int, slug: str = "paper_tables_1_2", minimum: int = 2
) -> Table | None:
    """The paper's Tables 1-2 as one table: a row per (dataset, attack, training, sparsity) that
    a compared experiment reached (dense-only runs included), ours beside the paper's with Δ.
    None when fewer than `minimum` experiments have a paper counterpart (with one, its summary
    table shows the same numbers)."""
    compared = [s for s in series if paper_rows(s.flat) is not None]
    if len(compared) < max(1, minimum):
        return None
    compared.sort(
        key=lambda s: (s.flat["dataset"] != "fashion_mnist", s.flat["attack"] != "fgsm",
                       not s.flat["adv_train"], s.name)
    )  # fmt: skip
    labels = _row_labels(compared)
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
        iterations.add(evaluation_name(s.config, at))
        by_target = {paper_level(s.remaining(lv)): lv for lv in s.levels()}
        training = training_mode(flat) + (f" ({labels[s.name]})" if labels[s.name] else "")
        for target in PAPER_LEVELS:
            level = by_target.get(target)
            if level is None:
                continue
            row = [
                DATASET_NAMES.get(flat["dataset"], flat["dataset"]), flat["attack"].upper(),
                training, f"{pct(target)} ({level})",
            ]  # fmt: skip
            raw = [flat["dataset"], flat["attack"], bool(flat["adv_train"]), target, level,
                   iteration]  # fmt: skip
            stats = []
            for metric, kind in (("acc", "natural"), ("adv_acc", "attack")):
                stat = table_stat(s, level, metric, at)
                cell = paper_cell(paper, target)[kind]
                text, diff, _ = diff_cell(stat, cell)
                row += [fmt_stat(stat), f"{cell.mean:.2f} ± {cell.std:.2f}",
                        text.split(" (")[0]]  # fmt: skip
                stats.append((stat, cell, diff))
            raw.append(stats[0][0].n)
            for stat, cell, diff in stats:
                raw += [pct_or_none(stat.mean), cell.mean, cell.std, diff]
            raw.append(s.name)
            rows.append(row)
            raw_rows.append(raw)
    trials = sorted({len(s.trials()) for s in compared})
    notes = [
        "Test accuracy (%) at "
        + ", ".join(sorted(iterations))
        + f" of each level; ours: mean ± sample std over {'/'.join(map(str, trials))} trial(s) "
        "(a single trial: its value); "
        f"the paper (Cosentino et al. 2019, Tables 1-2, reset strategy): mean ± std over "
        f"{PAPER_TRIALS} trials at iteration {PAPER_ITERATION:,} (the original code's label: "
        "step 25,021). Δ = ours − paper in points. "
        '"Attack" is the accuracy on adversarial test examples made with the row\'s attack. '
        "Only magnitude-pruned tickets of the paper's setup (strategy reset, the text's, or "
        "rewind_trained, the original code's) are listed.",
    ]
    found = sorted({d for s in compared for d in setup_differences(s.flat)})
    if found:
        notes.append("These runs differ from the paper in: " + "; ".join(found) + ".")
    return Table(
        slug=slug, title="The paper's Tables 1-2: ours beside the paper's", header=header,
        rows=rows, raw_header=raw_header, raw_rows=raw_rows, notes=notes,
    )  # fmt: skip
