"""The claim under test: the training attack's accuracy as the paper reports it against the worst
case of the strong attacks, natural and adversarial training side by side, with the
gradient-masking flags, per sparsity.

One panel per (dataset, model, training attack, eps, strategy, method) that has strong-attack
results; experiments differing only in natural vs adversarial training (or in the adversarial
objective: mixed, madry, trades) share a panel, a colour each. Part of the robustness
section."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from matplotlib.figure import Figure

from robust_tickets.report.aggregate import mean_std
from robust_tickets.report.formats import Table
from robust_tickets.report.plot import MAX_WIDTH_IN, Drawn, percent_axis
from robust_tickets.report.strong import WORST, StrongAttacks, flags
from robust_tickets.report.style import (
    DATASET_NAMES,
    method_tag,
    objective_tag,
    pct,
    training_mode,
)

TRAINING_COLORS = {"adversarial": "#1f77b4", "natural": "#ff7f0e"}
# (the caption names each colour in words)
COLOR_NAMES = {
    "#1f77b4": "blue", "#ff7f0e": "orange", "#2ca02c": "green", "#9467bd": "purple",
    "#8c564b": "brown", "#e377c2": "pink", "#17becf": "cyan", "#bcbd22": "olive",
}  # fmt: skip
_OTHER_COLORS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def training_color(training: str) -> str:
    """The colour of a training mode (`style.training_mode`): the paper's two as always, an
    objective adv_train does not imply (madry, trades) one of its own, stable across runs."""
    if training in TRAINING_COLORS:
        return TRAINING_COLORS[training]
    return _OTHER_COLORS[sum(map(ord, training)) % len(_OTHER_COLORS)]


def _key(strong: StrongAttacks) -> tuple:
    f = strong.flat
    return (f["dataset"], f["model"], f["attack"], f["eps"], f["strategy"], method_tag(f))


def _panel_title(key: tuple) -> str:
    dataset, model, attack, eps, strategy, tag = key
    name = DATASET_NAMES.get(dataset, dataset)
    return f"{name} · {model} · {attack.upper()} ε={eps:g} · {strategy}" + (
        f" · {tag}" if tag else ""
    )


def panels(strongs: list[StrongAttacks]) -> dict[tuple, list[StrongAttacks]]:
    """Strong-attack results grouped by setting apart from the training mode (adversarial
    first)."""
    grouped: dict[tuple, list[StrongAttacks]] = defaultdict(list)
    for strong in strongs:
        grouped[_key(strong)].append(strong)
    for found in grouped.values():
        found.sort(key=lambda s: (not s.flat["adv_train"], objective_tag(s.flat)))
    return dict(sorted(grouped.items()))


def claim_figure(strongs: list[StrongAttacks], checks: list[dict[str, Any]]) -> Drawn | None:
    """Per panel: the training attack's accuracy (training-time metric, full test set, dashed)
    and the worst case (solid) against % of weights remaining, one colour per training mode;
    a red ring marks a level where a gradient-masking check warns. None when no panel has more
    than one evaluated level."""
    grouped = {k: v for k, v in panels(strongs).items() if any(len(s.levels) > 1 for s in v)}
    if not grouped:
        return None
    flagged = flags(checks)
    cols = min(len(grouped), 2)
    rows = (len(grouped) + cols - 1) // cols
    fig = Figure(figsize=(min(MAX_WIDTH_IN, 5.2 * cols), 4.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    data: list[dict[str, Any]] = []
    for ax, (key, found) in zip(axes, grouped.items(), strict=False):
        xs: list[float] = []
        for strong in found:
            training = training_mode(strong.flat)
            color = training_color(training)
            x = [strong.remaining[lv] for lv in strong.levels]
            xs += x
            trained = [mean_std(strong.trained.get(lv, [])) for lv in strong.levels]
            worst = [strong.stat(lv, WORST) for lv in strong.levels]
            measure = f"{training}: {strong.training.upper()} (the paper's measure)"
            ax.plot(x, [s.mean * 100 for s in trained], "--", color=color, marker="o", ms=4,
                    label=measure)  # fmt: skip
            # adversarial drawn thick, natural thin on top: where both are at 0, both show
            wide = bool(strong.flat["adv_train"])
            ax.plot(x, [s.mean * 100 for s in worst], "-", color=color, marker="s",
                    ms=7 if wide else 4, lw=4 if wide else 1.6,
                    label=f"{training}: worst case of the strong attacks")  # fmt: skip
            marked = [
                (xi, s.mean * 100)
                for lv, xi, s in zip(strong.levels, x, trained, strict=True)
                if flagged.get((strong.experiment, lv))
            ]
            if marked:
                ax.scatter(*zip(*marked, strict=True), s=110, facecolors="none",
                           edgecolors="#d62728", linewidths=1.4, zorder=5,
                           label=f"{training}: a masking check warns")  # fmt: skip
            for lv, r, t, w in zip(strong.levels, x, trained, worst, strict=True):
                names = " ".join(flagged.get((strong.experiment, lv), []))
                data.append({
                    "panel": _panel_title(key), "training": training, "level": lv,
                    "remaining": round(r, 4), "training_attack_pct": t.mean * 100,
                    "worst_case_pct": w.mean * 100, "worst_case_n_examples": strong.n,
                    "trials": w.n, "masking_flags": names,
                })  # fmt: skip
        percent_axis(ax, xs)
        ax.set_ylim(-2, 100)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(_panel_title(key), fontsize=10)
        ax.legend(loc="center left", fontsize=8, frameon=True, framealpha=0.9)
    for ax in axes[len(grouped) :]:
        ax.set_visible(False)
    n = sorted({s.n for v in grouped.values() for s in v})
    modes = sorted(
        {training_mode(s.flat): (not s.flat["adv_train"], objective_tag(s.flat))
         for v in grouped.values() for s in v}.items(),
        key=lambda item: item[1],
    )  # fmt: skip
    colours = "; ".join(
        f"{COLOR_NAMES[training_color(mode)]}: {mode} training" for mode, _ in modes
    )
    both = {natural for _, (natural, _) in modes} == {True, False}
    ringed = any(d["masking_flags"] for d in data)
    caption = (
        "Dashed: the training attack's accuracy as the paper reports it (the training-time "
        "metric at the end of each level, full test set). Solid: the per-example worst case of "
        f"the strong attacks run by `evaluate` at the same ε, on the first "
        f"{'/'.join(f'{v:,}' for v in n)} test images. {colours.capitalize()}."
        + (" A red ring: a gradient-masking check warns for that network." if ringed else "")
        + " Mean over the evaluated trials."
        + (
            " Where the two worst-case lines coincide (at 0), the natural one (thin) is drawn "
            "over the adversarial one (thick)."
            if both
            else ""
        )
    )
    return Drawn(fig, data, caption)


def claim_table(
    strongs: list[StrongAttacks], checks: list[dict[str, Any]], slug: str = "claim"
) -> Table:
    """One row per evaluated network: clean accuracy, the training attack's accuracy as the
    paper reports it, the same attack run by `evaluate`, the worst case, the masking flags."""
    flagged = flags(checks)
    header = [
        "setting", "training", "% weights (level)", "clean", "training attack (paper's measure)",
        "training attack (evaluate)", "worst case", "masking checks",
    ]  # fmt: skip
    raw_header = [
        "dataset", "model", "attack", "eps", "strategy", "adv_train", "level", "remaining",
        "clean_pct", "training_attack_pct", "training_attack_evaluate_pct", "worst_case_pct",
        "n_examples", "trials", "masking_flags", "experiment", "objective",
    ]  # fmt: skip
    rows, raw_rows = [], []
    for key, found in panels(strongs).items():
        for strong in found:
            for lv in strong.levels:
                worst = strong.stat(lv, WORST)
                stats = (
                    mean_std(strong.clean.get(lv, [])),
                    mean_std(strong.trained.get(lv, [])),
                    strong.stat(lv, strong.training),
                    worst,
                )
                names = flagged.get((strong.experiment, lv), [])
                checked = (strong.experiment, lv) in flagged
                verdict = ("warn: " + ", ".join(names)) if names else ("pass" if checked else "—")
                rows.append([
                    _panel_title(key), training_mode(strong.flat),
                    f"{pct(strong.remaining[lv])} ({lv})",
                    *(f"{s.mean * 100:.1f}" if s.n else "—" for s in stats),
                    verdict,
                ])  # fmt: skip
                f = strong.flat
                raw_rows.append([
                    f["dataset"], f["model"], f["attack"], f["eps"], f["strategy"],
                    bool(f["adv_train"]), lv, round(strong.remaining[lv], 4),
                    *(round(s.mean * 100, 2) if s.n else None for s in stats),
                    strong.n, worst.n, " ".join(names), strong.experiment,
                    f.get("objective", ""),
                ])  # fmt: skip
    sizes = sorted({s.n for s in strongs})
    notes = [
        "Accuracy (%). Clean and the training attack (paper's measure): the training-time "
        "metrics at the end of each level on the full test set (the paper's attacks ascend the "
        "model's own predictions, so a misclassified image the attack pushes back to its class "
        "counts as correct). Training attack (evaluate) and worst case: `robust-tickets "
        f"evaluate` on the first {'/'.join(f'{v:,}' for v in sizes)} test images, true "
        "labels, an image counting only if it is "
        "classified correctly both clean and attacked; the worst case is per example over every "
        "attack run. Masking checks: the gradient-masking checks that warn (see the masking "
        "table).",
    ]
    return Table(
        slug=slug,
        title="The paper's measure against the worst case, natural and adversarial training",
        header=header, rows=rows, raw_header=raw_header, raw_rows=raw_rows, notes=notes,
    )  # fmt: skip
