"""The report's strong-attack section, from the rows `robust-tickets evaluate` wrote: per
experiment, the training attack's accuracy beside strong attacks and their per-example worst
case, on the same test examples, at the training eps."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from robust_tickets.report.aggregate import Stat, mean_std
from robust_tickets.report.figures import MAX_WIDTH_IN, Drawn, _band, percent_axis
from robust_tickets.report.formats import Table
from robust_tickets.report.style import eps_flag, pct, setting_title
from robust_tickets.report.tables import fmt_stat

WORST = "worst-case"
COLORS = {"clean": "#7f7f7f", WORST: "#111111"}
_PALETTE = ("#1f77b4", "#d62728", "#9467bd", "#2ca02c", "#ff7f0e", "#8c564b", "#e377c2")


def _attack_order(attacks: set[str], training: str) -> list[str]:
    """The training attack first, the worst case last, the others by name in between."""
    rest = sorted(a for a in attacks if a not in (training, WORST))
    return [a for a in (training,) if a in attacks] + rest + [a for a in (WORST,) if a in attacks]


def _label(attack: str, training: str, params: str, short: bool = False) -> str:
    if attack == WORST:
        return "worst case" if short else "worst case (per example, over all attacks)"
    text = f"{attack} ({params})" if params and not short else attack
    return f"{text} (training attack)" if attack == training else text


class StrongAttacks:
    """The evaluation rows of one experiment at its training eps, over the largest number of
    examples evaluated, grouped by (level, attack)."""

    def __init__(
        self, experiment: str, rows: list[dict[str, Any]], config: dict[str, Any] | None = None
    ) -> None:
        self.experiment = experiment
        first = rows[0]
        # a metrics row names the setting only in part (no PGD steps, learning rate, ...): the
        # experiment's whole config, where the caller has it, fills in the rest
        self.flat = {**(config or {}), **first}
        self.training = first["attack"]
        robust = [
            r
            for r in rows
            if r["split"] == "robustness" and r["role"] == "curve" and r["eval_eps"] == r["eps"]
        ]
        self.n = max((r["n_examples"] for r in robust), default=0)
        robust = [r for r in robust if r["n_examples"] == self.n]
        self.values: dict[tuple[int, str], list[float]] = defaultdict(list)
        self.params: dict[str, str] = {}
        self.seconds = 0.0
        self.remaining: dict[int, float] = {}
        self.trials: set[int] = set()
        for r in robust:
            self.values[(r["level"], r["eval_attack"])].append(r["acc"])
            if r["eval_attack"] != WORST:
                self.params[r["eval_attack"]] = r["eval_params"] or ""
                self.seconds += float(r["seconds"] or 0)
            self.remaining[r["level"]] = r["remaining"]
            self.trials.add(r["trial"])
        # Clean accuracy and the training attack's accuracy as the paper reports it (the
        # training-time metric: full test set, the level's last evaluation).
        self.clean: dict[int, list[float]] = defaultdict(list)
        self.trained: dict[int, list[float]] = defaultdict(list)
        for r in rows:
            if (
                r["split"] == "test"
                and r["iteration"] == r["train_iters"]
                and r["level"] in self.remaining
                and r["trial"] in self.trials
            ):
                self.clean[r["level"]].append(r["acc"])
                self.trained[r["level"]].append(r["adv_acc"])
        self.attacks = _attack_order({a for _, a in self.values}, self.training)
        self.levels = sorted(self.remaining)

    def stat(self, level: int, attack: str) -> Stat:
        return mean_std(self.values.get((level, attack), []))

    def command(self, directory: str) -> str:
        attacks = ",".join(a for a in self.attacks if a != WORST)
        levels = ",".join(map(str, self.levels))
        eps = eps_flag(self.flat["eps"])
        return (
            f"robust-tickets evaluate {directory} --attacks {attacks} --eps {eps} "
            f"--levels {levels} --n-examples {self.n}"
        )


def group(
    rows: list[dict[str, Any]], configs: dict[str, dict[str, Any]] | None = None
) -> list[StrongAttacks]:
    """One StrongAttacks per experiment that has evaluation rows at its training eps;
    `configs` maps an experiment's name to its flat config."""
    by_experiment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_experiment[r["experiment"]].append(r)
    configs = configs or {}
    found = [
        StrongAttacks(name, found, configs.get(name))
        for name, found in sorted(by_experiment.items())
    ]
    return [s for s in found if s.values]


def strong_figure(strong: StrongAttacks) -> Drawn:
    """Accuracy against % remaining: clean, the training attack, each strong attack and the
    worst case, mean ± std over the evaluated trials."""
    fig = Figure(figsize=(min(MAX_WIDTH_IN, 9.0), 4.8), layout="constrained")
    ax = fig.subplots()
    x = [strong.remaining[lv] for lv in strong.levels]
    data: list[dict[str, Any]] = []
    clean = [mean_std(strong.clean.get(lv, [])) for lv in strong.levels]
    _band(ax, x, [s.mean for s in clean], [s.std for s in clean], COLORS["clean"], ":",
          label="clean (full test set)")  # fmt: skip
    data += [
        {"line": "clean", "level": lv, "remaining": round(r, 4), "n_examples": "full test set",
         "mean": s.mean * 100, "std": s.std * 100, "trials": s.n}
        for lv, r, s in zip(strong.levels, x, clean, strict=True)
    ]  # fmt: skip
    others = [a for a in strong.attacks if a not in (strong.training, WORST)]
    for attack in strong.attacks:
        stats = [strong.stat(lv, attack) for lv in strong.levels]
        if attack == WORST:
            color, style = COLORS[WORST], "-"
        elif attack == strong.training:
            color, style = "#1f77b4", "-"
        else:
            color, style = _PALETTE[1 + others.index(attack) % (len(_PALETTE) - 1)], "--"
        label = _label(attack, strong.training, strong.params.get(attack, ""))
        _band(ax, x, [s.mean for s in stats], [s.std for s in stats], color, style, label=label)
        data += [
            {"line": attack, "level": lv, "remaining": round(r, 4), "n_examples": strong.n,
             "mean": s.mean * 100, "std": s.std * 100, "trials": s.n}
            for lv, r, s in zip(strong.levels, x, stats, strict=True)
        ]  # fmt: skip
    percent_axis(ax, x)
    ax.set_ylim(-2, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(
        f"{setting_title(strong.flat)}, strategy {strong.flat['strategy']}\n"
        f"at ε={strong.flat['eps']:g}, first {strong.n:,} test images, "
        f"{len(strong.trials)} trial(s)",
        fontsize=10,
    )
    ax.legend(loc="best", frameon=True, framealpha=0.9)
    shown = ", ".join(pct(v) + "%" for v in x)
    caption = (
        f"Accuracy of the final networks (iteration {strong.flat['train_iters']:,}, the end of "
        f"each level) at the evaluated levels ({shown} of the weights) "
        f"on the first {strong.n:,} test images at the training ε "
        f"({strong.flat['eps']:g}): the training attack ({strong.training}), "
        f"{', '.join(others) or 'no other attack'}, and the per-example worst case over all of "
        "them (the worst case is drawn last, over any attack line it coincides with); dotted: "
        "clean accuracy on the full test set. Mean over trials with a one-std band."
    )
    return Drawn(fig, data, caption)


def strong_table(strong: StrongAttacks, slug: str) -> Table:
    header = ["% left", "level", "trials", "clean (full test set)"]
    header += [_label(a, strong.training, "", short=True) for a in strong.attacks]
    raw_header = ["experiment", "level", "remaining", "attack", "params", "eps", "n_examples",
                  "trials", "acc_pct_mean", "acc_pct_std"]  # fmt: skip
    rows, raw_rows = [], []
    for lv in strong.levels:
        stats = [strong.stat(lv, a) for a in strong.attacks]
        clean = mean_std(strong.clean.get(lv, []))
        rows.append(
            [pct(strong.remaining[lv]), str(lv), str(max(s.n for s in stats)), fmt_stat(clean)]
            + [fmt_stat(s) for s in stats]
        )
        for attack, s in zip(["clean", *strong.attacks], [clean, *stats], strict=True):
            raw_rows.append(
                [strong.experiment, lv, round(strong.remaining[lv], 4), attack,
                 strong.params.get(attack, ""), strong.flat["eps"],
                 strong.n if attack != "clean" else "", s.n,
                 None if not s.n else round(s.mean * 100, 4),
                 None if np.isnan(s.std) else round(s.std * 100, 4)]
            )  # fmt: skip
    notes = [
        f"Accuracy (%) on the first {strong.n:,} test images at ε={strong.flat['eps']:g}, mean ± "
        "sample std over trials; an example counts as robust only if it is classified correctly "
        "both clean and attacked. Clean: the level's last training evaluation, full test set.",
        "Attack parameters: "
        + "; ".join(f"{a}: {p}" for a, p in sorted(strong.params.items()) if p)
        + f". Evaluation time: {strong.seconds:,.0f} s of attacks in all.",
    ]
    return Table(
        slug=slug,
        title=f"Strong attacks: {setting_title(strong.flat)}, strategy {strong.flat['strategy']}",
        header=header, rows=rows, raw_header=raw_header, raw_rows=raw_rows, notes=notes,
    )  # fmt: skip


def finding(strong: StrongAttacks) -> str:
    """One sentence: the training attack's accuracy against the worst case, per level. Where
    `evaluate` did not run the training attack itself, its training-time metric (full test set)
    stands in, and the sentence says so."""
    evaluated = all(strong.stat(lv, strong.training).n for lv in strong.levels)
    parts = []
    for lv in strong.levels:
        worst = strong.stat(lv, WORST)
        if evaluated:
            train = strong.stat(lv, strong.training)
        else:
            train = mean_std(strong.trained.get(lv, []))
        if train.n and worst.n:
            parts.append(
                f"{pct(strong.remaining[lv])}%: {train.mean * 100:.1f} → {worst.mean * 100:.1f}"
            )
    others = ", ".join(a for a in strong.attacks if a not in (strong.training, WORST))
    training = (
        strong.training
        if evaluated
        else f"{strong.training}, as measured during training on the full test set"
    )
    return (
        f"Strong attacks ({setting_title(strong.flat)}, {strong.flat['strategy']}): accuracy "
        f"under the training attack ({training}) → worst case with {others}, on the first "
        f"{strong.n:,} test images at ε={strong.flat['eps']:g}, by % of weights left: "
        + ("; ".join(parts) or "no level has both")
        + "."
    )
