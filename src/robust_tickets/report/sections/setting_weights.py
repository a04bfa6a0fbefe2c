"""Part of a setting's section: the initial values of the weights that survive pruning, per
layer, at the levels nearest the paper's sparsities (the paper's Figure 4)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from robust_tickets.report.aggregate import layer_shapes, select_levels, surviving_initial_weights
from robust_tickets.report.load import Series
from robust_tickets.report.plot import MAX_WIDTH_IN, Drawn, band, subplots, suptitle
from robust_tickets.report.style import level_color, pct


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
    fig, axes = subplots(1, len(layers), figsize=(width, 4.2), squeeze=False)
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
            band(
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
    suptitle(
        fig,
        series.flat,
        series.title,
        f"Surviving initial weights per layer ({series.label})",
        [series],
    )
    caption = (
        "Histogram (density) of the initial values of the weights that survive pruning at each "
        "level shown, per layer (initial = what the level started training from), mean over "
        f"trials{' with a one-std band' if len(series.trials()) > 1 else ' (one trial)'}."
    )
    return Drawn(fig, data, caption)
