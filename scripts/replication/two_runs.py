"""The same chains run twice, with the same code and seeds on two machines: how far apart are
their cells? (docs/replication/README.md, "How much one trial varies")

    python scripts/replication/two_runs.py FIRST.csv[.gz] SECOND.csv[.gz] OUT   # -> OUT.{md,json}

Reads two `robust-tickets results --csv` files and compares, level by level, the test accuracies
each experiment's rows give at the evaluation the original labelled 30,000 (the tables' cells),
over the levels both finished.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rows import read_rows

NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def cells(path: Path) -> dict[tuple[str, int], dict[str, float]]:
    """(experiment, level) -> {"remaining", "natural", "attack"} at label 30,000, test split."""
    out = {}
    for r in read_rows(path):
        if r["split"] == "test" and r["label"] == "30000" and r["complete"] == "True":
            out[(r["experiment"], int(r["level"]))] = {
                "dataset": r["dataset"],
                "remaining": float(r["remaining"]),
                "natural": 100 * float(r["acc"]),
                "attack": 100 * float(r["adv_acc"]),
            }
    return out


def main(first: Path, second: Path, out: Path) -> None:
    a, b = cells(first), cells(second)
    both = sorted(set(a) & set(b))
    if not both:
        sys.exit(f"two_runs: {first} and {second} share no finished level")
    md = [
        "| dataset | level | % weights | natural: first | second | Δ | attack: first | second | Δ"
        " |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows, summary = [], {}
    for key in both:
        x, y = a[key], b[key]
        row = {"experiment": key[0], "level": key[1], "remaining": x["remaining"]}
        line = [NAMES[x["dataset"]], str(key[1]), f"{x['remaining']:.1f}"]
        for kind in ("natural", "attack"):
            diff = y[kind] - x[kind]
            row |= {f"{kind}_first": round(x[kind], 2), f"{kind}_second": round(y[kind], 2)}
            row[f"{kind}_diff"] = round(diff, 2)
            line += [f"{x[kind]:.2f}", f"{y[kind]:.2f}", signed(diff)]
            summary.setdefault((x["dataset"], kind), []).append(diff)
        rows.append(row)
        md.append("| " + " | ".join(line) + " |")
    md += [
        "",
        "| dataset | measure | levels | mean abs. Δ | largest abs. Δ | mean Δ (second − first) |",
        "|---|---|---|---|---|---|",
    ]
    stats = []
    for (dataset, kind), diffs in sorted(summary.items()):
        mean_abs = sum(abs(d) for d in diffs) / len(diffs)
        largest = max(abs(d) for d in diffs)
        mean = sum(diffs) / len(diffs)
        stats.append(
            {"dataset": dataset, "kind": kind, "levels": len(diffs), "mean_diff": round(mean, 2),
             "mean_abs_diff": round(mean_abs, 2), "max_abs_diff": round(largest, 2)}
        )  # fmt: skip
        cols = [NAMES[dataset], kind, str(len(diffs)), f"{mean_abs:.2f}", f"{largest:.2f}"]
        md.append("| " + " | ".join([*cols, signed(mean)]) + " |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    record = {"first": first.name, "second": second.name, "levels": rows, "summary": stats}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out.with_suffix('.md')} and .json ({len(both)} levels)")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python scripts/replication/two_runs.py FIRST.csv SECOND.csv OUT")
    main(*[Path(p) for p in sys.argv[1:]])
