"""The plain loop's accuracies beside the engine's, trial by trial, and whether they differ.

Reads the CSV that `python benchmarks/plain_cifar.py --preset P --out DIR` writes
(DIR/plain-P.csv) and the engine's experiment directory of the same preset (a sweep's run, e.g.
results/cifar-cpu/cifar10-resnet20-nfgsm-...), takes for each trial the engine's level-0
evaluation at the level's end on the test split (trial_K/level_00/metrics.csv, the row at the
last iteration), and prints both accuracies, their difference and, over the trials, the mean
difference with a 95% paired-t interval:

    python benchmarks/plain_cifar_compare.py DIR/plain-cifar-cpu.csv EXPERIMENT_DIR

The two are the same run when the plain loop reproduces the engine's weights (max_abs_diff
near 0), so their accuracies then agree exactly; the interval is what says "within noise"
when they do not.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from pathlib import Path
from typing import Any

# 97.5% quantiles of Student's t by degrees of freedom (the two-sided 95% interval)
T975 = {
    **{1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571},
    **{6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228},
}


def t975(df: int) -> float:
    """Student's t 97.5% quantile: the table, then the Cornish-Fisher expansion in 1/df (under
    0.1% off from df 11 on)."""
    if df in T975:
        return T975[df]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def paired(differences: list[float]) -> dict[str, Any]:
    """Mean of paired differences, their sample standard deviation, the 95% t-interval of the
    mean and a verdict: with few trials only an interval that excludes 0 counts."""
    n = len(differences)
    mean = statistics.fmean(differences) if n else math.nan
    if n < 2:
        return {
            "n": n,
            "mean": mean,
            "sd": math.nan,
            "low": math.nan,
            "high": math.nan,
            "verdict": "one trial: no interval, no test",
        }
    sd = statistics.stdev(differences)
    half = t975(n - 1) * sd / math.sqrt(n)
    if all(d == 0 for d in differences):
        verdict = "identical in every trial"
    elif mean - half > 0 or mean + half < 0:
        verdict = f"significant at 5% (paired t, {n} trials: the interval excludes 0)"
    else:
        verdict = f"not significant (paired t, {n} trials: the interval contains 0)"
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "low": mean - half,
        "high": mean + half,
        "verdict": verdict,
    }


def read_plain(path: Path) -> dict[int, dict[str, Any]]:
    """The plain loop's rows by trial."""
    with path.open(newline="") as f:
        return {int(r["trial"]): r for r in csv.DictReader(f)}


def engine_end_row(experiment: Path, trial: int) -> dict[str, Any] | None:
    """The engine's level-0 test row at the level's end for `trial`, or None if that level has
    not finished."""
    from robust_tickets.store import ExperimentDir, read_level_metrics

    level = ExperimentDir(experiment).trial(trial).level(0)
    if not level.is_done():
        return None
    rows = [r for r in read_level_metrics(level) if r["split"] == "test"]
    return max(rows, key=lambda r: r["iteration"]) if rows else None


def compare(plain: dict[int, dict[str, Any]], experiment: Path) -> list[str]:
    """The report's lines: a table by trial, then the interval of each accuracy's difference."""
    lines = [
        f"{'trial':>5}  {'natural: plain':>14} {'engine':>7} {'diff':>6}   "
        f"{'adversarial: plain':>18} {'engine':>7} {'diff':>6}   max |dw|"
    ]
    diffs: dict[str, list[float]] = {"natural": [], "adversarial": []}
    test_images = set()
    for trial, row in sorted(plain.items()):
        engine = engine_end_row(experiment, trial)
        if engine is None:
            lines.append(f"{trial:>5}  the engine's level 0 has not finished: left out")
            continue
        if int(engine["iteration"]) != int(row["steps"]):
            lines.append(
                f"{trial:>5}  the plain row trained {row['steps']} steps, the engine's level "
                f"{engine['iteration']} (a smoke test?): left out"
            )
            continue
        test_images.add(int(row["test_images"]))
        cells = []
        for name, key, width in (("natural", "acc", 14), ("adversarial", "adv_acc", 18)):
            mine, theirs = 100 * float(row[name]), 100 * float(engine[key])
            diffs[name].append(mine - theirs)
            cells.append(f"{mine:>{width}.1f} {theirs:>7.1f} {mine - theirs:>+6.1f}")
        weights = row["max_abs_diff"] or "-"  # blank: run without --engine-store
        lines.append(f"{trial:>5}  {cells[0]}   {cells[1]}   {weights}")
    lines.append("")
    lines.append("plain - engine, in points, mean (sample sd) [95% paired-t interval]:")
    for name, values in diffs.items():
        s = paired(values)
        if s["n"] < 2:
            lines.append(f"  {name:<11} {s['mean']:+.2f}  {s['verdict']}")
            continue
        lines.append(
            f"  {name:<11} {s['mean']:+.2f} ({s['sd']:.2f}) [{s['low']:+.2f}, {s['high']:+.2f}]"
            f"  {s['verdict']}"
        )
    if len(test_images) == 1:
        n = test_images.pop()
        lines.append(
            f"(one accuracy on {n:,} test images has a binomial standard error of up to "
            f"{100 * math.sqrt(0.25 / n):.1f} points)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("plain_csv", type=Path, help="plain_cifar.py --preset's CSV")
    parser.add_argument("experiment", type=Path, help="the engine's experiment directory")
    args = parser.parse_args(argv)
    print("\n".join(compare(read_plain(args.plain_csv), args.experiment)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
