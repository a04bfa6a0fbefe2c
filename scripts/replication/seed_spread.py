"""How much one cell of Tables 1-2 moves from seed to seed (docs/replication/README.md): the
FGSM-adversarially trained dense networks of both datasets, 5 trials, as the original code ran
them (configs/replicate-seeds.yaml).

    robust-tickets results STORE --csv | gzip -n > docs/replication/seeds/metrics.csv.gz
    python scripts/replication/seed_spread.py   # -> docs/replication/seeds/seed_spread.{json,md}

Reads committed CSVs only: docs/replication/seeds/metrics.csv.gz (the trials, read at the
evaluation labelled 30,000 = step 25,021, test split) and docs/replication/original/
metrics.csv.gz (the Tables 1-2 run; its level 0 is trial 0 of the same settings, so trial 0
must read the same numbers: a check that the seeds run is that run). Per dataset and measure:
each trial, mean ± sample std, the 95% t-interval of the mean, the paper's mean ± std over
its 5 trials, and Welch's t-test of ours against the paper's (from the paper's summary).
"""

from __future__ import annotations

import json
from pathlib import Path

from rows import read_rows
from tables import NAMES

from robust_tickets.report.paper import PAPER
from robust_tickets.report.study.stats import mean_sd, t_interval, welch_summary

DOCS = Path(__file__).resolve().parents[2] / "docs" / "replication"
MEASURES = {"natural": "acc", "attack": "adv_acc"}
LABEL = "30000"


def _level0(path: Path) -> dict[tuple[str, int], dict[str, float]]:
    """(dataset, trial) -> {"natural", "attack", "step"} of the FGSM-adversarial dense level."""
    out = {}
    for r in read_rows(path):
        if (r["attack"], r["adv_train"], r["level"], r["split"], r.get("label")) != (
            "fgsm", "True", "0", "test", LABEL,
        ):  # fmt: skip
            continue
        cell = {k: 100 * float(r[col]) for k, col in MEASURES.items()}
        out[(r["dataset"], int(r["trial"]))] = {**cell, "step": int(r["iteration"])}
    return out


def main() -> None:
    seeds = _level0(DOCS / "seeds" / "metrics.csv.gz")
    tables = _level0(DOCS / "original" / "metrics.csv.gz")
    report: dict = {"label": int(LABEL), "datasets": {}}
    lines = [
        "| dataset | measure | per trial (label 30,000 = step 25,021, test set) | mean ± std "
        "| 95% interval of the mean | paper (5 trials) | ours − paper | Welch p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dataset, name in NAMES.items():
        trials = sorted(t for d, t in seeds if d == dataset)
        if not trials:
            continue
        check = tables.get((dataset, 0))
        entry: dict = {
            "trials": trials,
            "steps": sorted({seeds[(dataset, t)]["step"] for t in trials}),
            "trial0_equals_tables_run": check is not None
            and all(abs(check[k] - seeds[(dataset, 0)][k]) < 1e-9 for k in MEASURES),
        }
        for kind in MEASURES:
            values = [seeds[(dataset, t)][kind] for t in trials]
            mean, sd = mean_sd(values)
            _, low, high = t_interval(values)
            paper = PAPER[(dataset, "fgsm", True)][100.0][kind]
            p = welch_summary(mean, sd, len(values), paper.mean, paper.std, 5)[2]
            entry[kind] = {
                "values": values,
                "mean": mean,
                "std": sd,
                "interval95": [low, high],
                "paper": {"mean": paper.mean, "std": paper.std},
                "difference": mean - paper.mean,
                "welch_p": p,
            }
            diff = f"{mean - paper.mean:+.2f}".replace("-", "−")
            lines.append(
                f"| {name} | {kind} | {', '.join(f'{v:.2f}' for v in values)} | "
                f"{mean:.2f} ± {sd:.2f} | {low:.2f} to {high:.2f} | "
                f"{paper.mean:.2f} ± {paper.std:.2f} | {diff} | {p:.2g} |"
            )
        report["datasets"][dataset] = entry
    out = DOCS / "seeds"
    (out / "seed_spread.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "seed_spread.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    for dataset, entry in report["datasets"].items():
        same = entry["trial0_equals_tables_run"]
        print(f"{dataset}: trial 0 equals the Tables 1-2 run's level 0: {same}")


if __name__ == "__main__":
    main()
