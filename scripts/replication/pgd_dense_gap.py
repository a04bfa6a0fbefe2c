"""Why the reset run's PGD-adversarially trained MNIST dense cell read 51.41 against the
original-behaviour run's 44.48 (the paper: 45.32 ± 0.20): docs/replication/README.md.

    python scripts/replication/pgd_dense_gap.py   # -> docs/replication/original/pgd_dense_gap.json

Reads committed `robust-tickets results --csv` files only:
- docs/replication/metrics.csv: the reset run (configs/replicate-reset.yaml; plain steps,
  torch's Adam, exact cross-entropy), evaluated every 500 steps;
- docs/replication/original/metrics.csv.gz: the original-behaviour run (configs/replicate.yaml;
  the Keras loop, its Adam, clipped cross-entropy), evaluated at the original's points;
- docs/replication/numerics/metrics.csv and metrics-5seeds.csv.gz, where present:
  configs/pgd-dense-numerics.yaml and pgd-dense-numerics-5seeds.yaml (trials of the
  original-behaviour dense network with the exact or clipped loss and either Adam, to step
  25,021; the second repeats some of the first's jobs, which must read the same).

1. Steps: both runs' PGD test accuracy at the same *steps*. The tables read the reset run at
   step 30,000 and the original at its label 30,000 = step 25,021, on curves that still rise.
2. Numerics: at step 25,021 (label 30,000), per dataset, trial, loss form and Adam, each
   setting's mean against the paper's (Welch's test from its mean and std); pairs are the same
   trial (same initialisation and batch order) under two settings.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rows import read_rows

from robust_tickets.report.paper import PAPER
from robust_tickets.report.study.stats import mean_sd, paired_t, t_interval, welch_summary
from robust_tickets.sweep.grid import load_grid

DOCS = Path(__file__).resolve().parents[2] / "docs" / "replication"
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
GRIDS = [CONFIGS / "pgd-dense-numerics.yaml", CONFIGS / "pgd-dense-numerics-5seeds.yaml"]
# the numerics runs' rows: the first part (MNIST, trials 0-2), then the 5-seed grid's
NUMERICS = [DOCS / "numerics" / "metrics.csv", DOCS / "numerics" / "metrics-5seeds.csv.gz"]
TABLE_STEP = 25021  # the evaluation the original labelled 30,000
WINDOW = 2000


def _curve(path: Path, dataset: str) -> dict[int, float]:
    """step -> PGD test accuracy (%) of the PGD-adversarially trained dense network, trial 0."""
    out = {}
    for r in read_rows(path):
        if (r["dataset"], r["attack"], r["adv_train"], r["level"], r["split"], r["trial"]) == (
            dataset, "pgd", "True", "0", "test", "0",
        ):  # fmt: skip
            out[int(r["iteration"])] = 100 * float(r["adv_acc"])
    return out


def _window(curve: dict[int, float], step: int, half: int = WINDOW) -> dict:
    """The mean of every evaluation within `half` steps of `step` (single evaluations of these
    curves move by 1-3 points from one to the next)."""
    values = [v for s, v in curve.items() if abs(s - step) <= half]
    return {"mean": sum(values) / len(values), "evaluations": len(values)}


def steps_section(dataset: str) -> dict:
    reset = _curve(DOCS / "metrics.csv", dataset)
    original = _curve(DOCS / "original" / "metrics.csv.gz", dataset)
    if max(reset, default=0) < 30000 or max(original, default=0) < 30000 + WINDOW:
        return {}  # a run not finished (yet)
    rows = []
    for step in (20000, 25000, 30000):
        r, o = _window(reset, step), _window(original, step)
        rows.append({"step": step, "reset": r, "original": o, "diff": r["mean"] - o["mean"]})
    return {
        "dataset": dataset,
        "table_reads": {
            "reset": {"step": 30000, "value": reset[30000]},
            "original": {"step": TABLE_STEP, "value": original[TABLE_STEP]},
        },
        f"window_means_within_{WINDOW}_steps": rows,
    }


ORIGINAL = "loss_form=clipped, adam=keras"  # what the original code did


def _setting(config) -> str:
    return f"loss_form={config.train.loss_form}, adam={config.train.adam}"


def numerics_section() -> tuple[dict, dict]:
    """dataset -> setting (loss form, Adam) -> trial -> PGD test accuracy (%) at step 25,021,
    and the reruns: a (dataset, setting, trial) read in two sources must read the same. A run's
    settings come from the committed grids (their jobs' names); the Tables run's dense level is
    trial 0 of the original's numerics (the same trajectory up to step 25,021)."""
    settings = {
        job.config.name(): _setting(job.config) for grid in GRIDS for job in load_grid(grid)
    }
    sources = [(p, None) for p in NUMERICS if p.exists()]
    sources.append((DOCS / "original" / "metrics.csv.gz", ORIGINAL))
    cells: dict[str, dict[str, dict[int, float]]] = {}
    reruns = []
    for source, fixed in sources:
        for r in read_rows(source):
            if r["split"] != "test" or int(r["iteration"]) != TABLE_STEP:
                continue
            if (r["attack"], r["adv_train"], r["level"]) != ("pgd", "True", "0"):
                continue  # the Tables run: its PGD-adversarial dense levels only
            setting = fixed or settings[r["experiment"]]
            trials = cells.setdefault(r["dataset"], {}).setdefault(setting, {})
            trial, value = int(r["trial"]), 100 * float(r["adv_acc"])
            if trial in trials:
                reruns.append(
                    {"dataset": r["dataset"], "setting": setting, "trial": trial,
                     "values": [trials[trial], value], "equal": trials[trial] == value}
                )  # fmt: skip
            trials[trial] = value
    summary: dict = {}
    for dataset, by_setting in sorted(cells.items()):
        paper = PAPER[(dataset, "pgd", True)][100.0]["attack"]
        for setting, by_trial in sorted(by_setting.items()):
            values = [by_trial[t] for t in sorted(by_trial)]
            mean, sd = mean_sd(values)
            _, _, p = welch_summary(mean, sd, len(values), paper.mean, paper.std, 5)
            summary.setdefault(dataset, {})[setting] = {
                "trials": by_trial,
                "mean": mean,
                "std": None if math.isnan(sd) else sd,
                "paper": {"mean": paper.mean, "std": paper.std},
                "minus_paper": mean - paper.mean,
                "welch_p": None if math.isnan(p) else p,
            }
    return summary, {"reruns": reruns, "all_equal": all(r["equal"] for r in reruns)}


def _paired(a: dict[int, float], b: dict[int, float]) -> dict | None:
    """a minus b over the trials that have both: mean, sd, 95% t-interval, paired t's p."""
    diffs = [a[t] - b[t] for t in sorted(set(a) & set(b))]
    if len(diffs) < 2:
        return None
    mean, low, high = t_interval(diffs)
    t, p = paired_t(diffs)
    return {"pairs": len(diffs), "diffs": diffs, "mean": mean, "sd": mean_sd(diffs)[1],
            "ci95": [low, high], "t": t, "p": p}  # fmt: skip


def paired_numerics(numerics: dict) -> dict:
    """Per dataset, each numeric of the original against its replacement, the other one kept:
    the exact cross-entropy against the clipped one (Keras Adam), torch's Adam against Keras's
    (clipped loss)."""
    out = {}
    for dataset, by_setting in numerics.items():
        trials = {k: v["trials"] for k, v in by_setting.items()}
        original = trials.get(ORIGINAL, {})
        out[dataset] = {
            "exact_minus_clipped": _paired(
                trials.get("loss_form=logits, adam=keras", {}), original
            ),
            "torch_adam_minus_keras_adam": _paired(
                trials.get("loss_form=clipped, adam=torch", {}), original
            ),
        }
    return out


def main() -> None:
    numerics, reruns = numerics_section()
    out = {
        "source": "scripts/replication/pgd_dense_gap.py",
        "steps": [s for s in (steps_section("mnist"), steps_section("fashion_mnist")) if s],
        "numerics_at_step_25021": numerics,
        "paired_at_step_25021": paired_numerics(numerics),
        "reruns_at_step_25021": reruns,
    }
    target = DOCS / "original" / "pgd_dense_gap.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
