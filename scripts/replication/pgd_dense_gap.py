"""Why the reset run's PGD-adversarially trained MNIST dense cell read 51.41 against the
original-behaviour run's 44.48 (the paper: 45.32 ± 0.20): docs/replication/README.md.

    python scripts/replication/pgd_dense_gap.py [DIR]
    # -> DIR/pgd_dense_gap.json and DIR/pgd_dense_numerics.md (DIR: docs/replication/original)

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
   setting's mean against the paper's (Welch's test from its mean and std) and its spread over
   seeds against the paper's (the F-test of the two variances, n - 1 and 4 degrees of freedom);
   pairs are the same trial (same initialisation and batch order) under two settings.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from rows import NAMES, read_rows

from robust_tickets.report.paper import PAPER
from robust_tickets.report.study.stats import (
    mean_sd,
    paired_t,
    t_interval,
    variance_ratio,
    welch_summary,
)
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
SETTINGS = {  # the settings in the order tables list them, and what each is
    ORIGINAL: "clipped cross-entropy, Keras Adam (the original)",
    "loss_form=logits, adam=keras": "exact cross-entropy, Keras Adam",
    "loss_form=clipped, adam=torch": "clipped cross-entropy, torch's Adam",
    "loss_form=logits, adam=torch": "exact cross-entropy, torch's Adam",
}
Cells = dict[tuple[str, str, int], float]  # (dataset, setting, trial) -> PGD test accuracy (%)


def _setting(config) -> str:
    return f"loss_form={config.train.loss_form}, adam={config.train.adam}"


def _read(source: Path, setting_of: dict[str, str], fixed: str | None) -> Cells:
    """The PGD-adversarially trained dense networks' PGD test accuracy at step 25,021."""
    out: Cells = {}
    for r in read_rows(source):
        if r["split"] != "test" or int(r["iteration"]) != TABLE_STEP:
            continue
        if (r["attack"], r["adv_train"], r["level"]) != ("pgd", "True", "0"):
            continue  # the Tables run: its PGD-adversarial dense levels only
        setting = fixed or setting_of[r["experiment"]]
        out[(r["dataset"], setting, int(r["trial"]))] = 100 * float(r["adv_acc"])
    return out


def numerics_section() -> tuple[dict, dict]:
    """dataset -> setting (loss form, Adam) -> trial -> PGD test accuracy (%) at step 25,021,
    with each setting's mean against the paper's; and the checks between runs.

    With the 5-seed run committed, its rows alone make the numbers (all its trials ran on one
    machine, so a pair differs only by the setting); the earlier runs (the first numerics run,
    the Tables run's dense level = trial 0 of the original's numerics, another machine) are
    compared with it. Without it, the earlier runs make the numbers, and a trial they share must
    read the same (they ran on one machine). A run's settings come from the committed grids."""
    setting_of = {
        job.config.name(): _setting(job.config) for grid in GRIDS for job in load_grid(grid)
    }
    earlier: Cells = {}
    checks = []
    for source, fixed in [(NUMERICS[0], None), (DOCS / "original" / "metrics.csv.gz", ORIGINAL)]:
        for key, value in _read(source, setting_of, fixed).items():
            if key in earlier:
                checks.append(_check(key, "same machine", earlier[key], value))
            earlier[key] = value
    cells = earlier
    if NUMERICS[1].exists():
        cells = _read(NUMERICS[1], setting_of, None)
        checks += [
            _check(key, "earlier run, other machine", value, cells[key])
            for key, value in sorted(earlier.items())
            if key in cells
        ]
    by_dataset: dict[str, dict[str, dict[int, float]]] = {}
    for (dataset, setting, trial), value in sorted(cells.items()):
        by_dataset.setdefault(dataset, {}).setdefault(setting, {})[trial] = value
    summary: dict = {}
    for dataset, by_setting in sorted(by_dataset.items()):
        paper = PAPER[(dataset, "pgd", True)][100.0]["attack"]
        for setting in sorted(by_setting, key=list(SETTINGS).index):
            by_trial = by_setting[setting]
            values = list(by_trial.values())
            mean, sd = mean_sd(values)
            _, _, p = welch_summary(mean, sd, len(values), paper.mean, paper.std, 5)
            # is the seed-to-seed spread the paper's? The F-test of the two variances
            f, f_p = variance_ratio(sd, len(values), paper.std, 5)
            summary.setdefault(dataset, {})[setting] = {
                "trials": by_trial,
                "mean": mean,
                "std": None if math.isnan(sd) else sd,
                "paper": {"mean": paper.mean, "std": paper.std},
                "minus_paper": mean - paper.mean,
                "welch_p": None if math.isnan(p) else p,
                "variance_ratio": None if math.isnan(f_p) else f,
                "variance_ratio_p": None if math.isnan(f_p) else f_p,
            }
    same = [c for c in checks if c["between"] == "same machine"]
    source = NUMERICS[1] if NUMERICS[1].exists() else None
    return summary, {
        "numbers_from": source.name if source else "numerics/metrics.csv and the Tables run",
        "checks": checks,
        "same_machine_all_equal": all(c["diff"] == 0 for c in same),
    }


def _check(key: tuple[str, str, int], between: str, first: float, second: float) -> dict:
    dataset, setting, trial = key
    values = [round(first, 2), round(second, 2)]
    return {"dataset": dataset, "setting": setting, "trial": trial, "between": between,
            "values": values, "diff": round(second - first, 2)}  # fmt: skip


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


COMPARISONS = {
    "exact_minus_clipped": "exact cross-entropy instead of the clipped one",
    "torch_adam_minus_keras_adam": "torch's Adam (epsilon 1e-8) instead of Keras's (1e-7)",
}


def _num(value: float, sign: str = "") -> str:
    return f"{value:{sign}.2f}".replace("-", "−")


def _p(value: float) -> str:
    """A p for the page: two significant digits, "p < 0.001" below that."""
    return "p < 0.001" if value < 0.001 else f"p = {value:.2g}"


def markdown(numerics: dict, paired: dict) -> str:
    """The page's two tables: each setting's trials against the paper, and the paired changes."""
    trials = sorted({t for d in numerics.values() for v in d.values() for t in v["trials"]})
    head = " | ".join(f"trial {t}" for t in trials)
    lines = [
        f"| dataset | setting | {head} | mean ± std | paper | mean − paper (Welch p) | "
        "std / paper's std (F-test p) |",
        "|---|---|" + "---|" * len(trials) + "---|---|---|---|",
    ]
    for dataset, by_setting in numerics.items():
        for setting, cell in by_setting.items():
            values = [_num(cell["trials"][t]) if t in cell["trials"] else "" for t in trials]
            std = "" if cell["std"] is None else f" ± {cell['std']:.2f}"
            p = "" if cell["welch_p"] is None else f" (p = {cell['welch_p']:.2f})"
            paper = f"{cell['paper']['mean']:.2f} ± {cell['paper']['std']:.2f}"
            spread = "—"
            if cell.get("variance_ratio") is not None:
                ratio = cell["std"] / cell["paper"]["std"]
                spread = f"{ratio:.1f} ({_p(cell['variance_ratio_p'])})"
            lines.append(
                f"| {NAMES[dataset]} | {SETTINGS[setting]} | {' | '.join(values)} | "
                f"{_num(cell['mean'])}{std} | {paper} | {_num(cell['minus_paper'], '+')}{p} | "
                f"{spread} |"
            )
    lines += [
        "",
        "| dataset | change from the original (same trials) | pairs | mean difference | "
        "95% interval | paired t p |",
        "|---|---|---|---|---|---|",
    ]
    for dataset, tests in paired.items():
        for name, test in tests.items():
            if test is not None:
                low, high = test["ci95"]
                lines.append(
                    f"| {NAMES[dataset]} | {COMPARISONS[name]} | {test['pairs']} | "
                    f"{_num(test['mean'], '+')} | {_num(low)} to {_num(high)} | {test['p']:.2f} |"
                )
    return "\n".join(lines) + "\n"


def main(out_dir: Path = DOCS / "original") -> None:
    numerics, checks = numerics_section()
    paired = paired_numerics(numerics)
    out = {
        "source": "scripts/replication/pgd_dense_gap.py",
        "steps": [s for s in (steps_section("mnist"), steps_section("fashion_mnist")) if s],
        "numerics_at_step_25021": numerics,
        "paired_at_step_25021": paired,
        "checks_at_step_25021": checks,
    }
    (out_dir / "pgd_dense_gap.json").write_text(json.dumps(out, indent=1) + "\n")
    (out_dir / "pgd_dense_numerics.md").write_text(markdown(numerics, paired))
    print(f"wrote {out_dir / 'pgd_dense_gap.json'} and pgd_dense_numerics.md")


if __name__ == "__main__":
    main(*[Path(a) for a in sys.argv[1:2]])
