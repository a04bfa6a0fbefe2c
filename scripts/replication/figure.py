"""Tables 1-2 as figures: ours beside the paper's, cell by cell (docs/replication/README.md).

    python scripts/replication/figure.py   # -> original/tables_1_2_{attack,natural}.png

Reads docs/replication/original/tables_1_2.csv (written by tables.py). One panel per setting
(dataset x attack x training): the paper's 5-trial mean with its std as an error bar, the run of
the original code's behaviour (hollow where its level was stopped at step 25,021) and the
lottery-ticket `reset` run, against the % of weights left.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ORIGINAL = Path(__file__).resolve().parents[2] / "docs" / "replication" / "original"
NAMES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST"}  # the tables' order
KINDS = {"attack": "accuracy under the row's attack (%)", "natural": "natural accuracy (%)"}
SETTINGS = [(d, a, t) for d in NAMES for a in ("fgsm", "pgd") for t in ("True", "False")]


def number(text: str) -> float | None:
    return float(text) if text else None


def panel(ax: plt.Axes, rows: list[dict[str, str]]) -> None:
    rows = sorted(rows, key=lambda r: -float(r["remaining"]))
    x = [float(r["remaining"]) for r in rows]
    ax.errorbar(
        x,
        [float(r["paper_mean"]) for r in rows],
        [float(r["paper_std"]) for r in rows],
        fmt="s",
        color="black",
        ms=4,
        capsize=3,
        label="paper (mean ± std, 5 trials)",
    )
    runs = [
        ("original", "tab:blue", "original code's behaviour (1 trial)", 0.95),
        ("reset", "tab:orange", "lottery-ticket reset (1 trial)", 1.05),
    ]
    for key, colour, label, shift in runs:  # shifted sideways so that the three do not overlap
        points = [
            (xi * shift, number(r[key]), key == "original" and r["levels_stopped"] == "True")
            for xi, r in zip(x, rows, strict=True)
        ]
        points = [p for p in points if p[1] is not None]
        if not points:
            continue
        ax.plot([p[0] for p in points], [p[1] for p in points], "-", color=colour, lw=1, alpha=0.6)
        full = [p for p in points if not p[2]]
        stopped = [p for p in points if p[2]]
        ax.plot([p[0] for p in full], [p[1] for p in full], "o", color=colour, ms=5, label=label)
        if stopped:
            ax.plot(
                [p[0] for p in stopped],
                [p[1] for p in stopped],
                "o",
                mfc="white",
                color=colour,
                ms=5,
                label="original's behaviour, levels stopped at 25,021",
            )
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xticks([100, 51.3, 16.9, 8.7, 3.6, 1.8], ["100", "51.3", "16.9", "8.7", "3.6", "1.8"])
    ax.minorticks_off()
    ax.grid(alpha=0.3)


def main() -> None:
    with (ORIGINAL / "tables_1_2.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    for kind, ylabel in KINDS.items():
        fig, axes = plt.subplots(2, 4, figsize=(17, 7.5), constrained_layout=True)
        for ax, (dataset, attack, adv) in zip(axes.flat, SETTINGS, strict=True):
            rows = [
                r
                for r in table
                if (r["dataset"], r["attack"], r["adv_train"], r["kind"])
                == (dataset, attack, adv, kind)
            ]
            panel(ax, rows)
            training = "adversarial" if adv == "True" else "natural"
            ax.set_title(f"{NAMES[dataset]} · {attack.upper()} · {training} training", fontsize=10)
            ax.set_xlabel("% of weights left")
            ax.set_ylabel(ylabel, fontsize=9)
        handles: dict[str, object] = {}
        for ax in axes.flat:
            for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, h)
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=4)
        what = "under attack (eps 0.3)" if kind == "attack" else "natural"
        fig.suptitle(
            f"Tables 1-2, {what}: test accuracy at the paper's 'iteration 30,000' "
            "(original code: step 25,021; reset: step 30,000)"
        )
        out = ORIGINAL / f"tables_1_2_{kind}.png"
        fig.savefig(out, dpi=110)
        plt.close(fig)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
