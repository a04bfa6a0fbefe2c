"""The paper's Tables 1-2 with both replications side by side (docs/replication/README.md).

    python scripts/replication/tables.py   # -> docs/replication/original/tables_1_2.{md,csv}
                                           #    and tables_1_2_summary.json (cells within tolerance)
    python scripts/replication/tables.py DIR   # -> DIR/tables_1_2.{md,csv}, to compare

Reads two committed `robust-tickets results --csv` files:
- docs/replication/original/metrics.csv.gz: the original code's behaviour (preset `paper`:
  strategy `rewind_trained`, the Keras loop, TF 1.13 Keras's Adam and clipped loss), read at
  the evaluation the original labelled 30,000 (step 25,021);
- docs/replication/metrics.csv: the lottery-ticket `reset` of the paper's text (torch's
  numerics, 30,000 plain steps a level), read at iteration 30,000;
- docs/replication/original/pgd_adv_stopped.csv.gz, if present: the PGD-adversarial chains of
  configs/replicate-pgd-adv.yaml, every level stopped at step 25,021 (its masks and rewind
  target from there); their pruned cells are marked ‡ (their dense row is the full run's,
  which reads the same at label 30,000);
- docs/replication/original/pgd_adv_full.csv.gz, if present: the same chains with full levels
  (configs/replicate-pgd-adv-full.yaml: the original's behaviour, run apart from the dense
  cell above them); their pruned cells, marked §, take the place of the ‡ ones they reach.
One trial each; the paper: mean ± std over 5 trials. Δ = original-behaviour run − paper.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from rows import NAMES, read_rows

from robust_tickets.report.paper import PAPER, PAPER_LEVELS, paper_cell, paper_level

DOCS = Path(__file__).resolve().parents[2] / "docs" / "replication"
TRAINING = {True: "adversarial", False: "natural"}
MARKS = {
    "pgd_adv_stopped.csv.gz": " ‡",
    "pgd_adv_full.csv.gz": " §",
}  # the cells not from metrics.csv.gz


def cells(path: Path, strategy: str, at_label: bool) -> dict[tuple, dict[str, float]]:
    """(dataset, attack, adv_train, paper row) -> {"natural", "attack", "level", "step"}."""
    out = {}
    for r in read_rows(path):
        if r["split"] != "test" or r["strategy"] != strategy:
            continue
        at = r.get("label", "") if at_label else r["iteration"]
        if at != "30000":
            continue
        row = paper_level(float(r["remaining"]))
        if row is None:
            continue
        key = (r["dataset"], r["attack"], r["adv_train"] == "True", row)
        out[key] = {
            "natural": 100 * float(r["acc"]),
            "attack": 100 * float(r["adv_acc"]),
            "level": int(r["level"]),
            "step": int(r["iteration"]),
        }
    return out


def main(out: Path = DOCS / "original") -> None:
    original = cells(DOCS / "original" / "metrics.csv.gz", "rewind_trained", at_label=True)
    stopped_path = DOCS / "original" / "pgd_adv_stopped.csv.gz"
    stopped = cells(stopped_path, "rewind_trained", True) if stopped_path.exists() else {}
    for key, cell in stopped.items():
        if key not in original:  # the dense row: the full-length run (the same at label 30,000)
            original[key] = {**cell, "source": "pgd_adv_stopped.csv.gz"}
    full_path = DOCS / "original" / "pgd_adv_full.csv.gz"
    full = cells(full_path, "rewind_trained", True) if full_path.exists() else {}
    for key, cell in full.items():
        if key not in original or original[key].get("source") == "pgd_adv_stopped.csv.gz":
            original[key] = {**cell, "source": "pgd_adv_full.csv.gz"}
    reset = cells(DOCS / "metrics.csv", "reset", at_label=False)
    header = ["dataset", "attack", "training", "% weights (level)"]
    for kind in ("natural", "attack"):
        header += [f"{kind}: original code", "paper", "Δ", "reset (text)"]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    raw = [["dataset", "attack", "adv_train", "remaining", "level", "step", "kind", "original",
            "paper_mean", "paper_std", "diff", "reset", "levels_stopped", "source"]]  # fmt: skip
    for dataset in ("fashion_mnist", "mnist"):
        for attack in ("fgsm", "pgd"):
            for adv in (True, False):
                for row in PAPER_LEVELS:
                    ours = original.get((dataset, attack, adv, row))
                    other = reset.get((dataset, attack, adv, row))
                    if ours is None and other is None:
                        continue
                    paper = paper_cell(PAPER[(dataset, attack, adv)], row)
                    level = ours["level"] if ours else other["level"]
                    line = [NAMES[dataset], attack.upper(), TRAINING[adv], f"{row:g} ({level})"]
                    for kind in ("natural", "attack"):
                        cell = paper[kind]
                        source = ours.get("source", "metrics.csv.gz") if ours else ""
                        mark = MARKS.get(source, "")
                        mine = f"{ours[kind]:.2f}{mark}" if ours else "—"
                        diff = f"{ours[kind] - cell.mean:+.2f}".replace("-", "−") if ours else "—"
                        theirs = f"{other[kind]:.2f}" if other else "—"
                        line += [mine, f"{cell.mean:.2f} ± {cell.std:.2f}", diff, theirs]
                        raw.append([dataset, attack, adv, row, level,
                                    ours["step"] if ours else "", kind,
                                    round(ours[kind], 2) if ours else "", cell.mean, cell.std,
                                    round(ours[kind] - cell.mean, 2) if ours else "",
                                    round(other[kind], 2) if other else "",
                                    source == "pgd_adv_stopped.csv.gz", source])  # fmt: skip
                    md.append("| " + " | ".join(line) + " |")
    (out / "tables_1_2.md").write_text("\n".join(md) + "\n")
    with (out / "tables_1_2.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(raw)
    summary = closeness([dict(zip(raw[0], r, strict=True)) for r in raw[1:]])
    (out / "tables_1_2_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out / 'tables_1_2.md'}, .csv and _summary.json ({len(md) - 2} rows)")


def closeness(rows: list[dict]) -> dict:
    """How many of the original-behaviour cells are within the issue's tolerance of the paper:
    natural accuracy within 1 point or the paper's std, attack accuracy within 2 points or twice
    its std; the cells outside it, largest miss first."""
    out = {}
    for kind, (points, stds) in {"natural": (1.0, 1.0), "attack": (2.0, 2.0)}.items():
        run = [r for r in rows if r["kind"] == kind and r["original"] != ""]
        outside = [
            {
                k: r[k]
                for k in (
                    "dataset",
                    "attack",
                    "adv_train",
                    "remaining",
                    "diff",
                    "paper_std",
                    "source",
                )
            }
            for r in run
            if abs(r["diff"]) > max(points, stds * r["paper_std"])
        ]
        outside.sort(key=lambda r: -abs(r["diff"]))
        out[kind] = {
            "cells": len(run),
            "within": len(run) - len(outside),
            "largest_abs_diff": max((abs(r["diff"]) for r in run), default=None),
            "outside": outside,
        }
    return out


if __name__ == "__main__":
    main(*[Path(a) for a in sys.argv[1:2]])  # an output folder instead of the committed one
