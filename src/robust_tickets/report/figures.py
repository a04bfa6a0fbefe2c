"""The report's figures, drawn with matplotlib (no LaTeX): each function takes loaded results
and returns a Figure, or None when there is nothing to draw.

Figures are built as `matplotlib.figure.Figure` objects, not through pyplot, so no GUI backend
or global figure state is involved (saving uses the Agg/SVG canvases) and nothing needs
closing; the style is applied with `STYLE` in an `rc_context` by whoever draws and saves.

Lines are means over trials with a band of one standard deviation; colours are per strategy
(`style.STRATEGY_COLORS`) or per sparsity level (`style.LEVEL_COLORS`) in every figure.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from robust_tickets.report.aggregate import (
    Stat,
    curve_band,
    early_stop,
    layer_shapes,
    level_stat,
    mean_std,
    select_levels,
    surviving_initial_weights,
    table_iteration,
)
from robust_tickets.report.load import Series, Setting
from robust_tickets.report.paper import PAPER_ITERATION, PAPER_LEVELS, PAPER_TRIALS, paper_rows
from robust_tickets.report.style import (
    level_color,
    pct,
    setting_details,
    setting_title,
    strategy_color,
)

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
LINESTYLES = ("-", "--", ":", "-.")
MAX_WIDTH_IN = 12.5  # shown at most ~1,230 px wide, so 9-pt text stays >= 10 px at 1,400 px
FEW_POINTS = 25  # series with at most this many points get markers


@dataclass
class Drawn:
    """A figure, the numbers it draws (one dict per plotted point, for its CSV) and a caption
    that says what is actually drawn."""

    fig: Figure
    data: list[dict[str, Any]] = field(default_factory=list)
    caption: str = ""


def _subplots(nrows: int, ncols: int, figsize: tuple[float, float], **kw):
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kw)


def _band(ax, x, mean, std, color, style="-", label=None, scale=100.0, marker=None) -> None:
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


def _trial_counts(series: list[Series]) -> str:
    return ", ".join(f"{s.label}: {len(s.trials())}" for s in series)


def _suptitle(fig: Figure, flat: dict, what: str, series: list[Series]) -> None:
    """Three lines at most: what is shown, the setting, and the rest of the config with the
    number of trials, wrapped to the figure's width."""
    width = max(60, int(fig.get_figwidth() * 13))
    details = f"{setting_details(flat)} · mean ± 1 std over trials (n = {_trial_counts(series)})"
    fig.suptitle(
        "\n".join([what, setting_title(flat), *textwrap.wrap(details, width)]), fontsize=10
    )
    fig.get_layout_engine().set(h_pad=0.06, w_pad=0.06)


def percent_axis(ax, remaining: list[float]) -> None:
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


def _iteration_formatter(v: float, _pos) -> str:
    return f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"


def _primary(setting: Setting) -> Series:
    resets = setting.by_strategy("reset")
    return resets[0] if resets else setting.series[0]


# ---- figure 1 ---------------------------------------------------------------------------
CURVE_ROWS = (
    ("acc", "test accuracy (%)", 100.0),
    ("adv_acc", "adversarial test acc. (%)", 100.0),
    ("loss", "test loss", 1.0),
)
MAX_COMPARISONS = 3  # columns per curves figure; more comparisons make more figures


def curve_comparisons(setting: Setting) -> list[list[Series | None]]:
    """The comparisons of the primary strategy with the others, in figures of at most
    MAX_COMPARISONS columns (a single [None] when the setting has one strategy)."""
    primary = _primary(setting)
    others: list[Series | None] = [s for s in setting.series if s is not primary] or [None]
    return [others[i : i + MAX_COMPARISONS] for i in range(0, len(others), MAX_COMPARISONS)]


def curves_figure(setting: Setting, others: list[Series | None] | None = None) -> Drawn | None:
    """Test accuracy, adversarial accuracy and loss against iteration, one line per selected
    sparsity level; one column per comparison of the primary strategy (reset) with another."""
    primary = _primary(setting)
    others = others if others is not None else curve_comparisons(setting)[0]
    width = min(MAX_WIDTH_IN, 3.9 * len(others) + 2.6)
    fig, axes = _subplots(
        len(CURVE_ROWS),
        len(others),
        figsize=(width, 8.4),
        squeeze=False,
        sharex=True,
        sharey="row",  # the comparisons are read side by side
    )
    data: list[dict[str, Any]] = []
    shown_levels: dict[int, str] = {}
    points = 0
    for col, other in enumerate(others):
        for series, style in ((primary, "-"), (other, "--")):
            if series is None:
                continue
            available = {lv: series.remaining(lv) for lv in series.levels()}
            for target, level in select_levels(available):
                shown_levels.setdefault(target, pct(available[level]))
                for row, (metric, _, scale) in enumerate(CURVE_ROWS):
                    band = curve_band(series, level, "test", metric)
                    if band is None:
                        continue
                    points = max(points, len(band.iteration))
                    _band(
                        axes[row, col],
                        band.iteration,
                        band.mean,
                        band.std,
                        level_color(target),
                        style,
                        scale=scale,
                    )
                    data += [
                        {
                            "panel": col, "strategy": series.label, "level": level,
                            "remaining": round(available[level], 4), "metric": metric,
                            "iteration": int(i), "mean": m * scale, "std": sd * scale, "n": int(n),
                        }
                        for i, m, sd, n in zip(band.iteration, band.mean, band.std, band.n,
                                               strict=True)
                    ]  # fmt: skip
        title = primary.label
        if other is not None:
            title = f"{primary.label} (solid) vs {other.label} (dashed)"
        axes[0, col].set_title(title)
    for row, (_, ylabel, _) in enumerate(CURVE_ROWS):
        axes[row, 0].set_ylabel(ylabel)
    for ax in axes[-1]:
        ax.set_xlabel("training iteration")
        ax.xaxis.set_major_formatter(FuncFormatter(_iteration_formatter))
    handles = [
        Line2D([], [], color=level_color(t), lw=2, marker="o", ms=4, label=f"{label}%")
        for t, label in sorted(shown_levels.items())
    ]
    handles.append(Line2D([], [], color="0.35", ls="-", label=primary.label))
    if others[0] is not None:
        compared = ", ".join(o.label for o in others if o is not None)
        handles.append(
            Line2D([], [], color="0.35", ls="--", label="\n".join(textwrap.wrap(compared, 14)))
        )
    fig.legend(handles=handles, loc="outside right center", title="% weights left", frameon=False)
    _suptitle(fig, setting.flat, "Test metrics during training, per sparsity level", setting.series)
    levels = ", ".join(f"{label}%" for _, label in sorted(shown_levels.items()))
    caption = (
        f"Test accuracy, adversarial test accuracy and test loss at each evaluated iteration "
        f"({points} evaluations per level), mean over trials with a one-std band, for the levels "
        f"nearest to the paper's six sparsities ({levels}), one colour each."
    )
    if others[0] is not None:
        caption += f" Solid: {primary.label}; dashed: the strategy named above each column."
    return Drawn(fig, data, caption)


# ---- figure 2 ---------------------------------------------------------------------------
def early_stop_figure(setting: Setting) -> Drawn | None:
    """Iteration of minimum validation loss, and validation (adversarial) accuracy there,
    against % weights remaining; complete levels only."""
    fig, axes = _subplots(1, 3, figsize=(MAX_WIDTH_IN, 4.8))
    all_remaining: list[float] = []
    data: list[dict[str, Any]] = []
    drew = []
    for series in setting.series:
        points = []
        for level in series.levels():
            stops = [
                stop
                for (_, lv), run in sorted(series.runs.items())
                if lv == level and run.complete and (stop := early_stop(run)) is not None
            ]
            if stops:
                points.append((level, series.remaining(level), stops))
        if not points:
            continue
        drew.append(series.label)
        x = [p[1] for p in points]
        all_remaining += x
        color = strategy_color(series.strategy)
        for ax, (name, get, scale) in zip(
            axes,
            (
                ("early_stop_iteration", lambda s: s.iteration, 1.0),
                ("valid_acc", lambda s: s.valid_acc, 100.0),
                ("valid_adv_acc", lambda s: s.valid_adv_acc, 100.0),
            ),
            strict=True,
        ):
            stats = [mean_std([get(s) for s in stops]) for _, _, stops in points]
            mean = [s.mean for s in stats]
            std = [s.std for s in stats]
            data += [
                {"strategy": series.label, "level": level, "remaining": round(r, 4),
                 "quantity": name, "mean": st.mean * scale, "std": st.std * scale, "n": st.n}
                for (level, r, _), st in zip(points, stats, strict=True)
            ]  # fmt: skip
            if len(x) == 1:
                ax.errorbar(
                    x,
                    np.array(mean) * scale,
                    yerr=np.nan_to_num(std) * scale,
                    fmt="s",
                    color=color,
                    label=series.label,
                    capsize=3,
                )
            else:
                _band(ax, x, mean, std, color, label=series.label, scale=scale)
    if not drew:
        return None
    for ax, ylabel in zip(
        axes,
        (
            "early-stopping iteration\n(min. validation loss)",
            "validation accuracy (%)",
            "adversarial validation acc. (%)",
        ),
        strict=True,
    ):
        percent_axis(ax, all_remaining)
        ax.set_ylabel(ylabel)
    axes[0].yaxis.set_major_formatter(FuncFormatter(_iteration_formatter))
    longest = max(s.config.train.train_iters for s in setting.series)
    axes[0].set_ylim(0, longest * 1.05)  # the whole level, so "stops early" is visible
    axes[1].set_title("at the early-stopping iteration")
    axes[2].set_title("at the early-stopping iteration")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    _suptitle(fig, setting.flat, "Early stopping against sparsity", setting.series)
    every = ", ".join(sorted({f"{s.config.train.eval_every:,}" for s in setting.series}))
    stops = [d["mean"] for d in data if d["quantity"] == "early_stop_iteration"]
    at_end = stops and all(d == longest for d in stops)
    caption = (
        f"Left: the evaluated iteration (every {every}) with the minimum validation loss; middle "
        f"and right: validation accuracy and adversarial validation accuracy there. Mean over "
        f"trials with a one-std band, one line per strategy ({', '.join(drew)}); finished "
        "levels only."
        + (
            f" Every level's minimum is at its last evaluation ({longest:,}): these runs are too "
            "short for the validation loss to turn up again."
            if at_end
            else ""
        )
    )
    return Drawn(fig, data, caption)


# ---- figure 3 ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """Published numbers drawn beside ours: per % remaining, natural and attack accuracy (%)
    as (mean, std)."""

    label: str
    points: dict[float, dict[str, tuple[float, float]]]


def dense_baseline(setting: Setting, at: int) -> tuple[str, dict[str, Stat]] | None:
    """The dense network's test accuracy: the `dense` strategy where the setting has it, else
    level 0 of the primary series (the same unpruned network: same seeds, same training)."""
    dense = setting.by_strategy("dense")
    source = dense[0] if dense else _primary(setting)
    if 0 not in source.levels():
        return None
    iteration = table_iteration(source.config, at)
    stats = {m: level_stat(source, 0, "test", m, iteration) for m in ("acc", "adv_acc")}
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
    fig, axes = _subplots(1, 2, figsize=(MAX_WIDTH_IN, 5.2))
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
            stats = [level_stat(series, lv, "test", metric, iteration) for lv in levels]
            keep = [i for i, s in enumerate(stats) if s.n]
            if not keep:
                continue
            xs = [x[i] for i in keep]
            all_remaining += xs
            _band(
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
    drawn_refs = []
    primary = _primary(setting)
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
        drawn_refs.append(ref.label)
        for ax, kind in zip(axes, ("natural", "attack"), strict=True):
            ys = [ref.points[r][kind][0] for r in xs]
            es = [ref.points[r][kind][1] for r in xs]
            ax.errorbar(xs, ys, yerr=es, capsize=3, label=ref.label, **style)
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
    _suptitle(fig, setting.flat, "Test accuracy against sparsity", setting.series)
    parts = [
        f"Test accuracy at iteration {its} of each level, mean over trials with a one-std band "
        f"({_trial_counts(setting.series)} trials)"
        + (f"; one line per pruning strategy ({', '.join(lines)})" if lines else "")
        + "."
    ]
    if baseline is not None:
        parts.append(
            f"Dashed black: the {baseline[0]} (100% of the weights, same iteration), band ±1 std."
        )
    if paper is not None and any(r.startswith("paper") for r in drawn_refs):
        parts.append(
            f"x with error bars: the paper's values (reset, iteration {PAPER_ITERATION:,} of "
            f"50,000, mean ± std over {PAPER_TRIALS} trials), at its sparsities in this range."
        )
    for label in drawn_refs:
        if not label.startswith("paper"):
            parts.append(f"Grey diamonds: the {label}, for reference.")
    return Drawn(fig, data, " ".join(parts))


# ---- figure 4 ---------------------------------------------------------------------------
def layer_dims(shape: tuple[int, ...]) -> str:
    """The dims of a layer for a title: " (784→300)", or " (3→64, 3x3)" for a convolution."""
    if len(shape) < 2:
        return ""
    kernel = "x".join(map(str, shape[2:]))
    return f" ({shape[1]}→{shape[0]}" + (f", {kernel})" if kernel else ")")


def weights_figure(series: Series) -> Drawn | None:
    """Histogram (density) of the surviving initial weights of each layer at selected levels
    (the level's init.safetensors where its mask is 1); mean over trials with a one-std band."""
    available = {lv: series.remaining(lv) for lv in series.levels()}
    chosen = select_levels(available)
    survivors = {level: surviving_initial_weights(series, level) for _, level in chosen}
    survivors = {level: per for level, per in survivors.items() if per}
    if not survivors:
        return None
    layers = sorted(
        {n for per in survivors.values() for n in per},
        key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)],
    )
    shapes = layer_shapes(series)
    width = min(MAX_WIDTH_IN, 3.6 * len(layers) + 2.0)
    fig, axes = _subplots(1, len(layers), figsize=(width, 4.2), squeeze=False)
    data: list[dict[str, Any]] = []
    for ax, name in zip(axes[0], layers, strict=True):
        pooled = np.concatenate([a for per in survivors.values() for a in per.get(name, [])])
        low, high = (float(pooled.min()), float(pooled.max())) if pooled.size else (-1.0, 1.0)
        if high <= low:  # one distinct value: give the histogram some width
            low, high = low - 0.5, high + 0.5
        per_trial_size = pooled.size / max(1, sum(len(p.get(name, [])) for p in survivors.values()))
        bins = int(np.clip(np.sqrt(per_trial_size) / 2, 8, 40))  # fewer bins for small layers
        edges = np.linspace(low, high, bins + 1)
        centers = (edges[:-1] + edges[1:]) / 2
        for target, level in chosen:
            per_trial = survivors.get(level, {}).get(name, [])
            if not per_trial:
                continue
            dens = np.array([np.histogram(a, bins=edges, density=a.size > 0)[0] for a in per_trial])
            std = dens.std(axis=0, ddof=1) if len(dens) > 1 else np.full(len(centers), np.nan)
            data += [
                {"layer": name, "level": level, "remaining": round(available[level], 4),
                 "bin_center": float(c), "density_mean": float(m), "density_std": float(sd),
                 "trials": len(dens)}
                for c, m, sd in zip(centers, dens.mean(axis=0), std, strict=True)
            ]  # fmt: skip
            _band(
                ax,
                centers,
                dens.mean(axis=0),
                std,
                level_color(target),
                scale=1.0,
                label=f"{pct(available[level])}%",
            )
        dims = layer_dims(shapes.get(name, ()))
        ax.set_title(f"layer {layers.index(name) + 1}{dims}")
        ax.set_xlabel("initial weight value")
        ax.xaxis.set_major_locator(MaxNLocator(5))  # small layers' values need few ticks
        ax.set_ylim(bottom=0)  # a density: do not magnify the noise of a flat one
    axes[0, 0].set_ylabel("density")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", title="% weights left", frameon=False)
    _suptitle(fig, series.flat, f"Surviving initial weights per layer ({series.label})", [series])
    caption = (
        "Histogram (density) of the initial values of the weights that survive pruning at each "
        "level shown, per layer (initial = what the level started training from), mean over "
        "trials with a one-std band."
    )
    return Drawn(fig, data, caption)
