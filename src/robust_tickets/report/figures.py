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

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullLocator

from robust_tickets.report.aggregate import (
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
from robust_tickets.report.paper import PAPER_ITERATION, PAPER_LEVELS, paper_rows
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


def _subplots(nrows: int, ncols: int, figsize: tuple[float, float], **kw):
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kw)


def _band(ax, x, mean, std, color, style="-", label=None, scale=100.0, marker=None) -> None:
    x, mean, std = np.asarray(x), np.asarray(mean) * scale, np.asarray(std) * scale
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


def curves_figure(setting: Setting) -> Figure | None:
    """Test accuracy, adversarial accuracy and loss against iteration, one line per selected
    sparsity level; one column per comparison of the primary strategy (reset) with another."""
    primary = _primary(setting)
    others = [s for s in setting.series if s is not primary] or [None]
    fig, axes = _subplots(
        len(CURVE_ROWS),
        len(others),
        figsize=(4.4 * len(others) + 2.6, 9.6),
        squeeze=False,
        sharex=True,
        sharey="row",  # the comparisons are read side by side
    )
    shown_levels: dict[int, str] = {}
    for col, other in enumerate(others):
        for series, style in ((primary, "-"), (other, "--")):
            if series is None:
                continue
            available = {lv: series.remaining(lv) for lv in series.levels()}
            for target, level in select_levels(available):
                shown_levels.setdefault(target, pct(available[level]))
                for row, (metric, _, scale) in enumerate(CURVE_ROWS):
                    band = curve_band(series, level, "test", metric)
                    if band is not None:
                        _band(
                            axes[row, col],
                            band.iteration,
                            band.mean,
                            band.std,
                            level_color(target),
                            style,
                            scale=scale,
                        )
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
        Line2D([], [], color=level_color(t), lw=2, label=f"{label}%")
        for t, label in sorted(shown_levels.items())
    ]
    handles.append(Line2D([], [], color="0.35", ls="-", label=primary.label))
    if others[0] is not None:
        compared = ", ".join(o.label for o in others)
        handles.append(
            Line2D([], [], color="0.35", ls="--", label="\n".join(textwrap.wrap(compared, 14)))
        )
    fig.legend(handles=handles, loc="outside right center", title="% weights left", frameon=False)
    _suptitle(fig, setting.flat, "Test metrics during training, per sparsity level", setting.series)
    return fig


# ---- figure 2 ---------------------------------------------------------------------------
def early_stop_figure(setting: Setting) -> Figure | None:
    """Iteration of minimum validation loss, and validation (adversarial) accuracy there,
    against % weights remaining; complete levels only."""
    fig, axes = _subplots(1, 3, figsize=(14.5, 5.4))
    all_remaining: list[float] = []
    drew = False
    for series in setting.series:
        points = []
        for level in series.levels():
            stops = [
                stop
                for (_, lv), run in sorted(series.runs.items())
                if lv == level and run.complete and (stop := early_stop(run)) is not None
            ]
            if stops:
                points.append((series.remaining(level), stops))
        if not points:
            continue
        drew = True
        x = [p[0] for p in points]
        all_remaining += x
        color = strategy_color(series.strategy)
        for ax, get, scale in (
            (axes[0], lambda s: s.iteration, 1.0),
            (axes[1], lambda s: s.valid_acc, 100.0),
            (axes[2], lambda s: s.valid_adv_acc, 100.0),
        ):
            stats = [mean_std([get(s) for s in stops]) for _, stops in points]
            mean = [s.mean for s in stats]
            std = [s.std for s in stats]
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
                _band(ax, x, mean, std, color, label=series.label, scale=scale, marker="o")
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
    return fig


# ---- figure 3 ---------------------------------------------------------------------------
def accuracy_figure(setting: Setting, at: int) -> Figure | None:
    """Natural and adversarial test accuracy at iteration `at` against % weights remaining,
    one line per strategy, the dense baseline as a horizontal band, the paper's values as x."""
    fig, axes = _subplots(1, 2, figsize=(12.5, 5.6))
    all_remaining: list[float] = []
    baselines = []
    iterations = set()
    for series in setting.series:
        iteration = table_iteration(series.config, at)
        iterations.add(iteration)
        levels = series.levels()
        x = [series.remaining(lv) for lv in levels]
        color = strategy_color(series.strategy)
        for ax, metric in zip(axes, ("acc", "adv_acc"), strict=True):
            stats = [level_stat(series, lv, "test", metric, iteration) for lv in levels]
            keep = [i for i, s in enumerate(stats) if s.n]
            if not keep:
                continue
            xs = [x[i] for i in keep]
            if len(keep) == 1 and series.strategy == "dense":
                baselines.append((ax, stats[keep[0]], color, series.label))
                continue
            all_remaining += xs
            _band(
                ax,
                xs,
                [stats[i].mean for i in keep],
                [stats[i].std for i in keep],
                color,
                label=series.label,
                marker="o",
            )
    if not all_remaining and not baselines:
        return None
    all_remaining = all_remaining or [100.0]
    for ax, stat, color, label in baselines:
        ax.axhline(stat.mean * 100, color=color, ls="--", lw=1.3, label=f"{label} (100%)")
        if np.isfinite(stat.std):
            ax.axhspan(
                (stat.mean - stat.std) * 100,
                (stat.mean + stat.std) * 100,
                color=color,
                alpha=0.1,
                lw=0,
            )
    primary = _primary(setting)
    paper = paper_rows(primary.flat) if primary.strategy == "reset" else None
    if paper is not None:
        for ax, kind in zip(axes, ("natural", "attack"), strict=True):
            xs = [r for r in paper if min(all_remaining) / 1.15 <= r <= max(all_remaining) * 1.15]
            if xs:
                ax.errorbar(
                    xs,
                    [paper[r][kind].mean for r in xs],
                    yerr=[paper[r][kind].std for r in xs],
                    fmt="x",
                    color="black",
                    ms=7,
                    capsize=3,
                    label=f"paper, reset ({PAPER_ITERATION // 1000}k it.)",
                )
    for ax, ylabel in zip(
        axes, ("natural test accuracy (%)", "adversarial test accuracy (%)"), strict=True
    ):
        percent_axis(ax, all_remaining)
        ax.set_ylabel(ylabel)
    its = ", ".join(f"{i:,}" for i in sorted(iterations))
    note = "" if iterations == {at} else f" (asked for {at:,}; runs evaluated up to {its})"
    axes[0].set_title(f"natural, at iteration {its}{note}", fontsize=9.5)
    axes[1].set_title(
        f"under {setting.flat['attack'].upper()} ε={setting.flat['eps']:g}, at iteration {its}",
        fontsize=9.5,
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    _suptitle(fig, setting.flat, "Test accuracy against sparsity", setting.series)
    return fig


# ---- figure 4 ---------------------------------------------------------------------------
def weights_figure(series: Series) -> Figure | None:
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
    fig, axes = _subplots(1, len(layers), figsize=(4.4 * len(layers) + 2.4, 4.6), squeeze=False)
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
            _band(
                ax,
                centers,
                dens.mean(axis=0),
                std,
                level_color(target),
                scale=1.0,
                label=f"{pct(available[level])}%",
            )
        out_f, in_f = shapes.get(name, (None, None))
        dims = f" ({in_f}→{out_f})" if out_f else ""
        ax.set_title(f"layer {layers.index(name) + 1}{dims}")
        ax.set_xlabel("initial weight value")
        ax.set_ylim(bottom=0)  # a density: do not magnify the noise of a flat one
    axes[0, 0].set_ylabel("density")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", title="% weights left", frameon=False)
    _suptitle(fig, series.flat, f"Surviving initial weights per layer ({series.label})", [series])
    return fig
