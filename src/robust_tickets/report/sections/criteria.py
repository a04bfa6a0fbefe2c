"""Pruning criteria compared at matched sparsity: one part per setting in which pruned
experiments differ in criterion, with a figure and a table.

A *criteria setting* is every experiment that differs only in how it prunes (criterion,
strategy, one-shot or iterative, the criterion's own settings, how far it ran); its dense run is
the horizontal reference. Each line is one experiment: test accuracy (natural, adversarial under
the training attack) at the end of each finished level against % of weights remaining, the mean
over trials with a one-std band; where `robust-tickets evaluate` ran, a third panel shows the
per-example worst case of its attacks at the training eps. The table gives the same numbers and
each criterion's difference from magnitude pruning at the same % remaining (every criterion
keeps exactly the schedule's counts, so levels match). Reads the series and strong-attack
results of ReportData, like every other section.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator

from robust_tickets.config import FIELD_DEFAULTS, ExperimentConfig
from robust_tickets.report.data import ReportData
from robust_tickets.report.formats import Table
from robust_tickets.report.load import Series
from robust_tickets.report.plot import MAX_WIDTH_IN, Drawn
from robust_tickets.report.sections.base import Part
from robust_tickets.report.strong import WORST as STRONG_WORST
from robust_tickets.report.strong import StrongAttacks
from robust_tickets.report.style import objective_tag, setting_title

# What may differ within a setting: how the network is pruned and how far it went.
PRUNING_FIELDS = frozenset(
    {
        "criterion",
        "strategy",
        "one_shot",
        "prune_iters",
        "rewind_iter",
        "snip_batches",
        "hydra_iters",
        "hydra_lr",
        "hydra_train_bn",
    }
)
METRICS = {"acc": "natural", "adv_acc": "adversarial"}
WORST = "worst"  # the strong attacks' per-example worst case


@dataclass
class Line:
    """One experiment of a setting: per % remaining, each metric's values over trials."""

    label: str
    config: ExperimentConfig
    values: dict[float, dict[str, list[float]]] = field(default_factory=dict)

    @property
    def criterion(self) -> str:
        return self.config.prune.criterion.name

    def stat(self, remaining: float, metric: str) -> tuple[float, float, int]:
        """(mean, sample std, trials) in percent; NaN where nothing was measured."""
        found = [v for v in self.values.get(remaining, {}).get(metric, []) if math.isfinite(v)]
        if not found:
            return math.nan, math.nan, 0
        arr = 100 * np.asarray(found)
        return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan, arr.size


@dataclass
class CriteriaSetting:
    flat: dict[str, Any]  # the fields every experiment of the setting shares
    lines: list[Line]  # pruned experiments, magnitude first
    dense: Line | None  # the dense baseline, where it was run

    def remaining(self) -> list[float]:
        return sorted({r for line in self.lines for r in line.values}, reverse=True)

    def reference(self) -> Line | None:
        """The magnitude-pruning line every other line is compared with."""
        return next((line for line in self.lines if line.criterion == "magnitude"), None)

    def title(self) -> str:
        base = {**self.flat, **{k: FIELD_DEFAULTS[k] for k in PRUNING_FIELDS}}
        return f"{setting_title(base)}, {self.flat['prune_method']} allocation"

    def has_worst(self) -> bool:
        return any(WORST in v for line in self.lines for v in line.values.values())


class CriteriaSection:
    def build(self, data: ReportData) -> list[Part]:
        parts = []
        for setting in criteria_settings(data.series, data.strongs):
            stem = slug(setting)
            part = Part(
                f"Criteria: {setting.title()}",
                stem,
                "Magnitude pruning beside the other criteria at matched sparsity: test accuracy "
                "at the end of each level, mean ± std over trials (difference from magnitude).",
            )
            header, rows, raw = criteria_table(setting)
            names = raw_header(setting)
            parts_drawn = ["Mean over trials with a one-std band, one line per criterion"]
            if setting.dense is not None:
                parts_drawn.append("the dense network dashed")
            if setting.has_worst():
                parts_drawn.append("the third panel: the strong attacks' worst case (`evaluate`)")
            drawn = Drawn(
                criteria_figure(setting),
                data=[dict(zip(names, r, strict=True)) for r in raw],  # the table's numbers
                caption="; ".join(parts_drawn) + ".",
            )
            part.figure(
                drawn, f"fig_{stem}", "Test accuracy against % of weights remaining, per criterion"
            )
            note = dense_note(setting)
            part.add(
                Table(
                    f"table_{stem}",
                    "Test accuracy (%) per criterion, difference from magnitude in brackets",
                    header,
                    rows,
                    names,
                    raw,
                    [note] if note else [],
                )
            )
            parts.append(part)
        return parts


def _label(config: ExperimentConfig) -> str:
    p = config.prune
    how = [] if p.strategy.name == "reset" else [p.strategy.name]
    how += ["one-shot"] if p.one_shot else []
    return f"{p.criterion.name} ({', '.join(how)})" if how else p.criterion.name


def _key(config: ExperimentConfig) -> tuple:
    return tuple(sorted((k, v) for k, v in config.flat().items() if k not in PRUNING_FIELDS))


def _line(series: Series, strong: StrongAttacks | None) -> Line:
    """Test accuracy at the end of each finished level, and the strong worst case."""
    line = Line(_label(series.config), series.config)
    end = series.config.train.train_iters
    for run in series.runs.values():
        curve = run.curves.get("test")
        if not run.complete or curve is None:
            continue
        hit = np.flatnonzero(curve.iteration == end)
        if hit.size:
            bucket = line.values.setdefault(run.remaining, {})
            for metric in METRICS:
                bucket.setdefault(metric, []).append(float(curve.values[metric][hit[0]]))
    if strong is not None:
        for (level, attack), values in strong.values.items():
            if attack == STRONG_WORST:
                bucket = line.values.setdefault(strong.remaining[level], {})
                bucket.setdefault(WORST, []).extend(values)
    return line


def criteria_settings(
    series: list[Series], strongs: list[StrongAttacks] | None = None
) -> list[CriteriaSetting]:
    """Settings in which at least two pruned experiments differ in criterion."""
    by_name = {s.experiment: s for s in strongs or []}
    groups: dict[tuple, list[Line]] = defaultdict(list)
    for s in series:
        line = _line(s, by_name.get(s.name))
        if line.values:
            groups[_key(s.config)].append(line)
    settings = []
    for members in groups.values():
        pruned = [m for m in members if m.config.prune.strategy.name != "dense"]
        if len({m.criterion for m in pruned}) < 2:
            continue
        pruned.sort(key=lambda m: (m.criterion != "magnitude", m.label, m.config.hash()))
        _disambiguate(pruned)
        dense = next((m for m in members if m.config.prune.strategy.name == "dense"), None)
        flat = {k: v for k, v in pruned[0].config.flat().items() if k not in PRUNING_FIELDS}
        settings.append(CriteriaSetting(flat, pruned, dense))
    settings.sort(key=lambda s: str(sorted(s.flat.items())))
    return settings


def _disambiguate(lines: list[Line]) -> None:
    """Lines with the same label get the settings they differ in appended."""
    by_label: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        by_label[line.label].append(line)
    for twins in by_label.values():
        if len(twins) < 2:
            continue
        differing = [
            k for k in sorted(PRUNING_FIELDS) if len({t.config.flat()[k] for t in twins}) > 1
        ]
        for t in twins:
            t.label += " " + ", ".join(f"{k}={t.config.flat()[k]}" for k in differing)


# ---- figure -------------------------------------------------------------------------------
def _pct(v: float) -> str:
    return f"{v:.3g}"


PAPER_PERCENTS = (100.0, 51.3, 16.9, 8.7, 3.6, 1.8)  # the paper's tables' rows


def _ticks(remaining: list[float]) -> list[float]:
    """The levels nearest the paper's sparsities, and both ends (every level is too crowded)."""
    near = [r for r in remaining if any(abs(r / p - 1) < 0.03 for p in PAPER_PERCENTS)]
    return sorted({max(remaining), min(remaining), *near}, reverse=True)


def criteria_figure(setting: CriteriaSetting) -> Figure:
    """Natural and adversarial test accuracy (and the strong worst case, where evaluated)
    against % of weights remaining: one line per criterion, the dense network dashed."""
    panels = dict(METRICS)
    if any(WORST in v for line in setting.lines for v in line.values.values()):
        panels[WORST] = "strong attacks, worst case"
    fig = Figure(figsize=(min(MAX_WIDTH_IN, 4.2 * len(panels)), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    remaining = setting.remaining()
    for ax, (metric, name) in zip(axes, panels.items(), strict=True):
        for index, line in enumerate(setting.lines):
            xs = [r for r in remaining if line.stat(r, metric)[2] > 0]
            if not xs:
                continue
            stats = np.array([line.stat(r, metric)[:2] for r in xs])
            color = f"C{index}"
            ax.plot(xs, stats[:, 0], marker="o", ms=3, color=color, label=line.label)
            band = np.nan_to_num(stats[:, 1])
            ax.fill_between(xs, stats[:, 0] - band, stats[:, 0] + band, color=color, alpha=0.2)
        if setting.dense is not None:
            mean = setting.dense.stat(100.0, metric)[0]
            if math.isfinite(mean):
                ax.axhline(mean, color="0.3", ls="--", lw=1, label="dense")
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(_ticks(remaining))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _pct(v)))
        ax.set_xlim(max(remaining) * 1.15, min(remaining) / 1.15)
        ax.set(
            title=f"{name} test accuracy",
            xlabel="% of weights remaining (log scale)",
            ylabel="accuracy (%)",
        )
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), frameon=False)
    fig.suptitle(setting.title(), fontsize=10)
    return fig


# ---- table --------------------------------------------------------------------------------
def _cell(mean: float, std: float, diff: float | None) -> str:
    if not math.isfinite(mean):
        return "—"
    text = f"{mean:.1f}" + (f" ± {std:.1f}" if math.isfinite(std) else "")
    if diff is not None and math.isfinite(diff):
        text += f" ({diff:+.1f})"
    return text


def _metrics(setting: CriteriaSetting) -> list[str]:
    found = {m for line in setting.lines for v in line.values.values() for m in v}
    return [m for m in (*METRICS, WORST) if m in found]


def criteria_table(setting: CriteriaSetting) -> tuple[list[str], list[list[str]], list[list]]:
    """(header, display rows, raw rows): per % remaining, each line's natural and adversarial
    accuracy (and worst case, where evaluated) as mean ± std (difference from magnitude)."""
    metrics = _metrics(setting)
    names = {**METRICS, WORST: "worst case"}
    reference = setting.reference()
    header = ["% left"] + [f"{line.label}: {names[m]}" for line in setting.lines for m in metrics]
    rows: list[list[str]] = []
    raw: list[list] = []
    for r in setting.remaining():
        cells, numbers = [_pct(r)], [r]
        for line in setting.lines:
            for m in metrics:
                mean, std, n = line.stat(r, m)
                ref = reference.stat(r, m)[0] if reference is not None else math.nan
                diff = None if line is reference else mean - ref
                cells.append(_cell(mean, std, diff))
                numbers += [mean, std, n, math.nan if diff is None else diff]
        rows.append(cells)
        raw.append(numbers)
    return header, rows, raw


def dense_note(setting: CriteriaSetting) -> str | None:
    """The dense baseline's accuracies, for the table's notes."""
    if setting.dense is None:
        return None
    parts = []
    for m in _metrics(setting):
        mean, std, n = setting.dense.stat(100.0, m)
        if n:
            parts.append(f"{({**METRICS, WORST: 'worst case'})[m]} {_cell(mean, std, None)}")
    return f"dense network: {', '.join(parts)}" if parts else None


def raw_header(setting: CriteriaSetting) -> list[str]:
    metrics = _metrics(setting)
    out = ["remaining"]
    for line in setting.lines:
        for m in metrics:
            out += [f"{line.label}:{m}:{k}" for k in ("mean", "std", "n", "diff_vs_magnitude")]
    return out


def slug(setting: CriteriaSetting) -> str:
    f = setting.flat
    mode = "adv" if f["adv_train"] else "nat"
    objective = re.sub(r"[^A-Za-z0-9.]+", "_", objective_tag(f)).strip("_")
    mode += f"-{objective}" if objective else ""
    return f"criteria_{f['dataset']}_{f['model']}_{f['attack']}_{mode}_{f['prune_method']}"
