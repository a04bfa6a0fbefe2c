"""Honest robustness, from what `robust-tickets evaluate` wrote: first the claim under test
(robustness_claim: the paper's measure against the worst case), then per experiment its command,
a figure and a table of the training attack beside each strong attack and their per-example
worst case at the training eps; robust accuracy against eps (robustness_curves) when several
eps were evaluated; the gradient-masking checks when they ran."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from robust_tickets.report.aggregate import mean_std
from robust_tickets.report.data import ReportData
from robust_tickets.report.formats import Table, fmt_stat
from robust_tickets.report.html import Note
from robust_tickets.report.plot import MAX_WIDTH_IN, Drawn, band, percent_axis, subplots
from robust_tickets.report.replication import robustness_note
from robust_tickets.report.sections.base import Part
from robust_tickets.report.sections.robustness_claim import claim_figure, claim_table
from robust_tickets.report.sections.robustness_curves import curve_data, robustness_curves
from robust_tickets.report.strong import WORST, StrongAttacks
from robust_tickets.report.style import pct

COLORS = {"clean": "#7f7f7f", WORST: "#111111"}
_PALETTE = ("#1f77b4", "#d62728", "#9467bd", "#2ca02c", "#ff7f0e", "#8c564b", "#e377c2")
INTRO = (
    "The paper measures each network only with the attack it was trained with. "
    "`robust-tickets evaluate` attacks the final networks again, here with stronger attacks "
    "on a subset of the test set; an example counts as robust under the worst case only if "
    "every attack run fails on it. Where the worst case is far below the training attack's "
    "accuracy, that accuracy overstates the network's robustness."
)


class RobustnessSection:
    def build(self, data: ReportData) -> list[Part]:
        if not any(r["split"] in ("robustness", "masking-check") for r in data.eval_rows):
            return []
        part = Part("Honest robustness: the training attack against strong attacks",
                    "robustness", INTRO)  # fmt: skip
        if data.strongs:
            part.figure(
                claim_figure(data.strongs, data.checks),
                "fig7_claim",
                "The paper's measure against the worst case, natural and adversarial training",
            )
            part.add(claim_table(data.strongs, data.checks))
        for index, strong in enumerate(data.strongs):
            # the finding itself is in the summary; here what adds to it
            reference = robustness_note(data.replication_strong, strong.flat)
            if reference:
                part.add(Note(reference))
            where = str(data.path(strong.experiment))
            part.add(Note("Command: " + strong.command(where), code=True))
            part.figure(
                strong_figure(strong),
                f"fig5_strong_attacks_{index}",
                "Training attack against strong attacks, by % of weights remaining",
            )
            part.add(strong_table(strong, f"strong_attacks_{index}"))
        eps = {r["eval_eps"] for r in data.eval_rows if r["split"] == "robustness"}
        if len(eps) > 1:
            fig = robustness_curves(data.eval_rows)
            if fig is not None:
                part.figure(
                    Drawn(fig, curve_data(data.eval_rows), "Worst case over the attacks run, "
                          "one line per level, mean over the evaluated trials."),
                    "fig6_robustness_curves",
                    "Robust accuracy against eps",
                )  # fmt: skip
        part.add(checks_table(data.checks))
        return [part]


def checks_table(checks: list[dict[str, Any]]) -> Table | None:
    """The gradient-masking checks, one row per checked network (None when none ran)."""
    if not checks:
        return None
    names = sorted(
        {k for e in checks for k in e}
        - {"experiment", "trial", "level", "remaining", "eps", "n", "overall"}
    )
    header = ["experiment", "trial", "level", "% left", *names, "overall"]
    raw = [
        [e["experiment"], e["trial"], e["level"], e["remaining"],
         *[e.get(n, "") for n in names], e["overall"]]
        for e in checks
    ]  # fmt: skip
    # % left as the paper writes it (its "1.8" is 1.85%: not "1.9")
    cells = [[pct(c) if isinstance(c, float) else str(c) for c in r] for r in raw]
    return Table("masking_checks", "Gradient-masking checks per ticket", header, cells, header, raw)


def attack_label(attack: str, training: str, params: str, short: bool = False) -> str:
    if attack == WORST:
        return "worst case" if short else "worst case (per example, over all attacks)"
    text = f"{attack} ({params})" if params and not short else attack
    return f"{text} (training attack)" if attack == training else text


def strong_figure(strong: StrongAttacks) -> Drawn:
    """Accuracy against % remaining: clean, the training attack, each strong attack and the
    worst case, mean ± std over the evaluated trials."""
    fig, ax = subplots(1, 1, figsize=(min(MAX_WIDTH_IN, 11.5), 4.8))
    x = [strong.remaining[lv] for lv in strong.levels]
    data: list[dict[str, Any]] = []
    clean = [mean_std(strong.clean.get(lv, [])) for lv in strong.levels]
    band(ax, x, [s.mean for s in clean], [s.std for s in clean], COLORS["clean"], ":",
          label="clean (full test set)")  # fmt: skip
    data += [
        {"line": "clean", "level": lv, "remaining": round(r, 4), "n_examples": "full test set",
         "mean": s.mean * 100, "std": s.std * 100, "trials": s.n}
        for lv, r, s in zip(strong.levels, x, clean, strict=True)
    ]  # fmt: skip
    others = [a for a in strong.attacks if a not in (strong.training, WORST)]
    trials = len(strong.trials)
    for attack in strong.attacks:
        stats = [strong.stat(lv, attack) for lv in strong.levels]
        if attack == WORST:
            color, style = COLORS[WORST], "-"
        elif attack == strong.training:
            color, style = "#1f77b4", "-"
        else:
            color, style = _PALETTE[1 + others.index(attack) % (len(_PALETTE) - 1)], "--"
        label = attack_label(attack, strong.training, strong.params.get(attack, ""))
        band(ax, x, [s.mean for s in stats], [s.std for s in stats], color, style, label=label)
        data += [
            {"line": attack, "level": lv, "remaining": round(r, 4), "n_examples": strong.n,
             "mean": s.mean * 100, "std": s.std * 100, "trials": s.n}
            for lv, r, s in zip(strong.levels, x, stats, strict=True)
        ]  # fmt: skip
    percent_axis(ax, x)
    ax.set_ylim(-2, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(
        "\n".join(textwrap.wrap(f"{strong.title}, strategy {strong.flat['strategy']}", 80)) + "\n"
        f"at ε={strong.flat['eps']:g}, first {strong.n:,} test images, "
        f"{len(strong.trials)} trial(s)",
        fontsize=10,
    )
    # beside the axes, not inside: inside, "best" still covered the clean line
    fig.legend(loc="outside right center", frameon=False)
    shown = ", ".join(pct(v) + "%" for v in x)
    attacks = (
        [f"the training attack ({strong.training})"] if strong.training in strong.attacks else []
    )
    attacks += others
    unrun = (
        f" `evaluate` did not run the training attack ({strong.training}) here: its accuracy "
        "during training is in the claim figure above."
        if strong.training not in strong.attacks
        else ""
    )
    caption = (
        f"Accuracy of the final networks (iteration {strong.flat['train_iters']:,}, the end of "
        f"each level) at the evaluated levels ({shown} of the weights) "
        f"on the first {strong.n:,} test images at the training ε "
        f"({strong.flat['eps']:g}): {', '.join(attacks) or 'no attack'}, and the per-example "
        "worst case over all of them (black, drawn last, over any attack line it coincides "
        "with); dotted grey: clean accuracy on the full test set. "
        + ("Mean over trials with a one-std band." if trials > 1 else "One trial.")
        + unrun
    )
    return Drawn(fig, data, caption)


def strong_table(strong: StrongAttacks, slug: str) -> Table:
    header = ["% left", "level", "trials", "clean (full test set)"]
    header += [attack_label(a, strong.training, "", short=True) for a in strong.attacks]
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
        title=f"Strong attacks: {strong.title}, strategy {strong.flat['strategy']}",
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
        f"Strong attacks ({strong.title}, {strong.flat['strategy']}): accuracy "
        f"under the training attack ({training}) → worst case with {others}, on the first "
        f"{strong.n:,} test images at ε={strong.flat['eps']:g}, by % of weights left: "
        + ("; ".join(parts) or "no level has both")
        + "."
    )
