"""Part of the robustness section: robust accuracy (the worst case over the attacks run)
against eps, one line per level, and the strong worst case against % of weights remaining.

Every function takes rows as `robust_tickets.results.iter_rows(root, include_eval=True)` yields
them (training rows and evaluation rows mixed; each picks what it needs) and returns a
`matplotlib.figure.Figure` (no pyplot state) or None when there is nothing to draw. Values are
means over trials; one panel per experiment setting (training attack and mode, strategy).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from robust_tickets.report.plot import percent_axis
from robust_tickets.report.style import objective_tag, pct

WORST = "worst-case"


def _setting(row: dict[str, Any]) -> str:
    mode = "adv" if row["adv_train"] else "nat"
    objective = objective_tag(row)  # mixed and madry runs are never averaged together
    mode += f" ({objective})" if objective else ""
    return f"{row['dataset']} {row['attack']}-{mode} eps {row['eps']:g}, {row['strategy']}"


def _eval_rows(rows: Iterable[dict[str, Any]], attack: str = WORST) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("split") == "robustness" and r["eval_attack"] == attack]


def _largest_n(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep, per experiment, the rows of the largest number of examples evaluated."""
    best: dict[str, int] = {}
    for r in rows:
        best[r["experiment"]] = max(best.get(r["experiment"], 0), r["n_examples"])
    return [r for r in rows if r["n_examples"] == best[r["experiment"]]]


def _panels(n: int, width: float = 4.6, height: float = 3.4):
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def robustness_curves(rows: Iterable[dict[str, Any]]) -> Figure | None:
    """Robust accuracy (worst case over the attacks run) against eps, one line per level."""
    found = _largest_n(_eval_rows(rows))
    if not found:
        return None
    by_setting: dict[str, dict[float, dict[float, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for r in found:
        by_setting[_setting(r)][r["remaining"]][r["eval_eps"]].append(r["acc"])
    fig, axes = _panels(len(by_setting))
    cmap = colormaps["viridis"]
    for ax, (title, levels) in zip(axes, sorted(by_setting.items()), strict=False):
        remaining = sorted(levels, reverse=True)
        for i, rem in enumerate(remaining):
            eps = sorted(levels[rem])
            acc = [100 * np.mean(levels[rem][e]) for e in eps]
            color = cmap(i / max(1, len(remaining) - 1))
            ax.plot(eps, acc, marker="o", ms=3, color=color, label=f"{pct(rem)}%")
        ax.set(title=title, xlabel="eps (L-inf)", ylabel="robust accuracy (%)", ylim=(0, 100))
        ax.grid(alpha=0.3)
        ax.legend(title="weights left", fontsize=7, title_fontsize=8)
    return fig


def strong_vs_remaining(rows: Iterable[dict[str, Any]]) -> Figure | None:
    """At the training eps: clean accuracy, the training attack's accuracy (from training) and
    the strong worst case (from `evaluate`) against % of weights remaining."""
    rows = list(rows)
    strong = [r for r in _largest_n(_eval_rows(rows)) if r["eval_eps"] == r["eps"]]
    if not strong:
        return None
    lines: dict[str, dict[str, dict[float, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    evaluated = {(r["experiment"], r["trial"], r["level"]) for r in strong}
    for r in strong:
        lines[_setting(r)]["strong attacks, worst case"][r["remaining"]].append(r["acc"])
    for r in rows:
        final = r.get("split") == "test" and r["iteration"] == r["train_iters"]
        if final and (r["experiment"], r["trial"], r["level"]) in evaluated:
            lines[_setting(r)]["clean"][r["remaining"]].append(r["acc"])
            lines[_setting(r)][f"training attack ({r['attack']})"][r["remaining"]].append(
                r["adv_acc"]
            )
    fig, axes = _panels(len(lines))
    for ax, (title, series) in zip(axes, sorted(lines.items()), strict=False):
        for label, points in sorted(series.items()):
            rem = sorted(points, reverse=True)
            acc = [100 * np.mean(points[x]) for x in rem]
            ax.plot(rem, acc, marker="o", ms=3, label=label)
        percent_axis(ax, [x for points in series.values() for x in points])
        ax.set(title=title, ylabel="test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def curve_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The numbers the robustness-curves figure draws, for its CSV."""
    return [
        {k: r[k] for k in ("experiment", "trial", "level", "remaining", "eval_eps",
                           "n_examples", "acc")}
        for r in rows
        if r.get("split") == "robustness" and r["eval_attack"] == "worst-case"
    ]  # fmt: skip
