"""Plotting helpers every section's figures share: the style, a figure with the numbers it draws
and its caption, mean ± std bands, the % remaining axis, titles that state the config.

Figures are `matplotlib.figure.Figure` objects, not pyplot ones, so no GUI backend or global
figure state is involved and nothing needs closing; `STYLE` is applied in an `rc_context` by
the builder while it draws and saves. Lines are means over trials with a band of one standard
deviation; colours come from `style` so a strategy or a sparsity looks the same everywhere.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator

from robust_tickets.report.paper import PAPER_LEVELS
from robust_tickets.report.style import pct, setting_details

STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.fonttype": "none",  # text stays text in the SVG
    "svg.hashsalt": "robust-tickets",  # reproducible SVG ids
}
BAND_ALPHA = 0.18
MAX_WIDTH_IN = 12.5  # shown at most ~1,230 px wide, so 9-pt text stays >= 10 px at 1,400 px
FEW_POINTS = 25  # series with at most this many points get markers


@dataclass
class Drawn:
    """A figure, the numbers it draws (one dict per plotted point, for its CSV) and a caption
    that says what is actually drawn."""

    fig: Figure
    data: list[dict[str, Any]] = field(default_factory=list)
    caption: str = ""


@dataclass(frozen=True)
class Reference:
    """Published numbers drawn beside ours: per % remaining, natural and attack accuracy (%)
    as (mean, std; NaN for a single trial) and the number of trials."""

    label: str
    points: dict[float, dict[str, tuple[float, float]]]
    trials: int = 0


def subplots(nrows: int, ncols: int, figsize: tuple[float, float], **kw: Any):
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kw)


def band(
    ax: Axes,
    x,
    mean,
    std,
    color: str,
    style: str = "-",
    label: str | None = None,
    scale: float = 100.0,
    marker: str | None = None,
) -> None:
    """A mean line with a ±1 std band (no band where the std is undefined: one trial)."""
    x, mean, std = np.asarray(x), np.asarray(mean) * scale, np.asarray(std) * scale
    if marker is None and len(x) <= FEW_POINTS:
        marker = "o"  # a line through a few points must show where the points are
    ax.plot(x, mean, style, color=color, label=label, lw=1.6, marker=marker, ms=4)
    ok = np.isfinite(std)
    if ok.any():
        ax.fill_between(
            x,
            mean - np.where(ok, std, 0),
            mean + np.where(ok, std, 0),
            color=color,
            alpha=BAND_ALPHA,
            lw=0,
        )


def spread(series: list) -> str:
    """How a caption names the spread drawn: a band only where some line has two trials."""
    if any(len(s.trials()) > 1 for s in series):
        return "mean over trials with a one-std band"
    return "a single trial (no spread to draw)"


def trial_counts(series: list) -> str:
    return ", ".join(f"{s.label}: {len(s.trials())}" for s in series)


def suptitle(fig: Figure, flat: dict, title: str, what: str, series: list) -> None:
    """Three lines at most: what is shown, the setting's title, and the rest of the config with
    the number of trials, wrapped to the figure's width."""
    width = max(60, int(fig.get_figwidth() * 13))
    spread = "mean ± 1 std over trials" if any(len(s.trials()) > 1 for s in series) else "one trial"
    details = f"{setting_details(flat)} · {spread} (n = {trial_counts(series)})"
    fig.suptitle("\n".join([what, title, *textwrap.wrap(details, width)]), fontsize=10)
    fig.get_layout_engine().set(h_pad=0.06, w_pad=0.06)


def percent_axis(ax: Axes, remaining: list[float]) -> None:
    """Log-scaled % remaining, dense on the left as in the paper, ticks at the paper's levels."""
    ax.set_xscale("log")
    lo, hi = min(remaining), max(remaining)
    ticks = [t for t in PAPER_LEVELS if lo * 0.95 <= t <= hi * 1.05]
    ticks += [v for v in (hi, lo) if all(abs(v / t - 1) > 0.03 for t in ticks)]  # no doubles
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: pct(v)))
    ax.set_xlim(hi * 1.15, lo / 1.15)
    ax.set_xlabel("% of weights remaining (log scale)")


def iteration_formatter(v: float, _pos: Any) -> str:
    return f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"
