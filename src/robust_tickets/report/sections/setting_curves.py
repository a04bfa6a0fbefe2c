"""Part of a setting's section: what happens during training. Test accuracy, adversarial
accuracy and loss against iteration per sparsity level (the paper's Figure 1), and early
stopping against sparsity (Figure 2)."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from robust_tickets.report.aggregate import curve_band, early_stop, mean_std, select_levels
from robust_tickets.report.load import Series, Setting
from robust_tickets.report.plot import (
    MAX_WIDTH_IN,
    Drawn,
    band,
    iteration_formatter,
    percent_axis,
    spread,
    subplots,
    suptitle,
)
from robust_tickets.report.style import level_color, pct, strategy_color

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
    primary = setting.primary()
    others: list[Series | None] = [s for s in setting.series if s is not primary] or [None]
    return [others[i : i + MAX_COMPARISONS] for i in range(0, len(others), MAX_COMPARISONS)]


def curves_figure(setting: Setting, others: list[Series | None] | None = None) -> Drawn | None:
    """Test accuracy, adversarial accuracy and loss against iteration, one line per selected
    sparsity level; one column per comparison of the primary strategy (reset) with another."""
    primary = setting.primary()
    others = others if others is not None else curve_comparisons(setting)[0]
    width = min(MAX_WIDTH_IN, 3.9 * len(others) + 2.6)
    fig, axes = subplots(
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
                    found = curve_band(series, level, "test", metric)
                    if found is None:
                        continue
                    points = max(points, len(found.iteration))
                    band(
                        axes[row, col],
                        found.iteration,
                        found.mean,
                        found.std,
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
                        for i, m, sd, n in zip(found.iteration, found.mean, found.std, found.n,
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
        ax.xaxis.set_major_formatter(FuncFormatter(iteration_formatter))
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
    suptitle(
        fig,
        setting.flat,
        setting.title,
        "Test metrics during training, per sparsity level",
        setting.series,
    )
    levels = ", ".join(f"{label}%" for _, label in sorted(shown_levels.items()))
    caption = (
        f"Test accuracy, adversarial test accuracy and test loss at each evaluated iteration "
        f"({points} evaluations per level), {spread(setting.series)}, for the levels "
        f"nearest to the paper's six sparsities ({levels}), one colour each."
    )
    if others[0] is not None:
        caption += f" Solid: {primary.label}; dashed: the strategy named above each column."
    return Drawn(fig, data, caption)


# ---- figure 2 ---------------------------------------------------------------------------
def early_stop_figure(setting: Setting) -> Drawn | None:
    """Iteration of minimum validation loss, and validation (adversarial) accuracy there,
    against % weights remaining; complete levels only."""
    fig, axes = subplots(1, 3, figsize=(MAX_WIDTH_IN, 4.8))
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
                band(ax, x, mean, std, color, label=series.label, scale=scale)
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
    axes[0].yaxis.set_major_formatter(FuncFormatter(iteration_formatter))
    longest = max(s.config.train.train_iters for s in setting.series)
    axes[0].set_ylim(0, longest * 1.05)  # the whole level, so "stops early" is visible
    axes[1].set_title("at the early-stopping iteration")
    axes[2].set_title("at the early-stopping iteration")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    suptitle(fig, setting.flat, setting.title, "Early stopping against sparsity", setting.series)
    every = ", ".join(sorted({f"{s.config.train.eval_every:,}" for s in setting.series}))
    stops = [d["mean"] for d in data if d["quantity"] == "early_stop_iteration"]
    at_end = stops and all(d == longest for d in stops)
    caption = (
        f"Left: the evaluated iteration (every {every}) with the minimum validation loss; middle "
        f"and right: validation accuracy and adversarial validation accuracy there. Mean over "
        f"trials (a one-std band where there are two or more), one line per strategy "
        f"({', '.join(drew)}); finished "
        "levels only."
        + (
            f" Every level's minimum is at its last evaluation ({longest:,}): these runs are too "
            "short for the validation loss to turn up again."
            if at_end
            else ""
        )
    )
    return Drawn(fig, data, caption)
