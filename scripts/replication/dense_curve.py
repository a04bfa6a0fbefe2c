"""How much the PGD-adversarially trained dense networks of the Tables run gain between the
step the stopped chains rewind to (25,021) and the one the original's full levels rewind to
(50,040): the mean test accuracy of the evaluations in each band of labels.

    python scripts/replication/dense_curve.py   # -> original/pgd_adv_dense_curve.json

Reads docs/replication/original/metrics.csv.gz (preset `paper`, level 0, 50,040 steps, two
evaluations an epoch); single evaluations move by 1-3 points, hence bands of about 20.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from rows import read_rows

ORIGINAL = Path(__file__).resolve().parents[2] / "docs" / "replication" / "original"
BANDS = [(20_000, 30_000), (30_500, 40_000), (40_500, 50_000), (50_500, 59_500)]  # labels


def main() -> None:
    out: dict[str, list[dict]] = {}
    for r in read_rows(ORIGINAL / "metrics.csv.gz"):
        if (r["attack"], r["adv_train"], r["level"], r["split"]) != ("pgd", "True", "0", "test"):
            continue
        if r["label"]:
            out.setdefault(r["dataset"], []).append(r)
    record = {}
    for dataset, rows in sorted(out.items()):
        record[dataset] = []
        for low, high in BANDS:
            band = [r for r in rows if low <= int(r["label"]) <= high]
            steps = [int(r["iteration"]) for r in band]
            record[dataset].append({
                "labels": [low, high],
                "steps": [min(steps), max(steps)],
                "evaluations": len(band),
                "natural": round(statistics.mean(100 * float(r["acc"]) for r in band), 2),
                "pgd": round(statistics.mean(100 * float(r["adv_acc"]) for r in band), 2),
            })  # fmt: skip
    path = ORIGINAL / "pgd_adv_dense_curve.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
