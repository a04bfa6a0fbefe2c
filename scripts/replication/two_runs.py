"""Two runs of the same chains, cell by cell: the same code and seeds on two machines
(docs/replication/README.md, "How much one trial varies"), or the PGD-adversarial chains with
their levels stopped at step 25,021 against the same chains with full levels ("The pruned
PGD-adversarial cells").

    python scripts/replication/two_runs.py FIRST.csv[.gz] SECOND.csv[.gz] OUT [NAME1,NAME2]
        [--where FIELD=VALUE,...]
    # -> OUT.{md,json}; NAME1,NAME2 head the two runs' columns (default: first,second)

Reads two `robust-tickets results --csv` files and compares, per dataset and level, the test
accuracies at the evaluation the original labelled 30,000 (the tables' cells), over the levels
both finished. Each file must hold one chain per dataset among the rows `--where` keeps (e.g.
`attack=fgsm,adv_train=True`: the FGSM-adversarially trained chains of the Tables run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rows import NAMES, read_rows

from robust_tickets.report.style import pct


def signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def cells(
    path: Path, where: dict[str, str] | None = None
) -> dict[tuple[str, int], dict[str, float]]:
    """(dataset, level) -> {"remaining", "natural", "attack"} at label 30,000, test split, of
    the rows whose fields hold `where`'s values."""
    out = {}
    chains: dict[str, set[str]] = {}
    for r in read_rows(path):
        if any(r.get(k) != v for k, v in (where or {}).items()):
            continue
        if r["split"] == "test" and r["label"] == "30000" and r["complete"] == "True":
            chains.setdefault(r["dataset"], set()).add(f"{r['experiment']} trial {r['trial']}")
            out[(r["dataset"], int(r["level"]))] = {
                "dataset": r["dataset"],
                "remaining": float(r["remaining"]),
                "natural": 100 * float(r["acc"]),
                "attack": 100 * float(r["adv_acc"]),
            }
    for dataset, names in chains.items():
        if len(names) > 1:
            sys.exit(f"two_runs: {path} holds {len(names)} chains of {dataset}: keep one")
    return out


def main(
    first: Path,
    second: Path,
    out: Path,
    names: tuple[str, str] = ("first", "second"),
    where: dict[str, str] | None = None,
) -> None:
    a, b = cells(first, where), cells(second, where)
    both = sorted(set(a) & set(b))
    if not both:
        sys.exit(f"two_runs: {first} and {second} share no finished level")
    one, two = names
    md = [
        f"| dataset | level | % weights | natural: {one} | {two} | Δ | attack: {one} | {two} | Δ |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows, summary = [], {}
    for key in both:
        x, y = a[key], b[key]
        row = {"dataset": key[0], "level": key[1], "remaining": x["remaining"]}
        line = [NAMES[x["dataset"]], str(key[1]), pct(x["remaining"])]  # as the tables write it
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
        f"| dataset | measure | levels | mean abs. Δ | largest abs. Δ | mean Δ ({two} − {one}) |",
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
    record = {one: first.name, two: second.name, "levels": rows, "summary": stats}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out.with_suffix('.md')} and .json ({len(both)} levels)")


def _where(text: str) -> dict[str, str]:
    pairs = [part.partition("=") for part in text.split(",") if part]
    if not pairs or any(not k or not eq for k, eq, _ in pairs):
        raise argparse.ArgumentTypeError(f"give FIELD=VALUE,..., not {text!r}")
    return {k: v for k, _, v in pairs}


def _names(text: str) -> tuple[str, str]:
    labels = tuple(text.split(","))
    if len(labels) != 2 or not all(labels):
        raise argparse.ArgumentTypeError(f"give the two names as A,B, not {text!r}")
    return labels  # type: ignore[return-value]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="two runs of the same chains, cell by cell")
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("out", type=Path, help="OUT.md and OUT.json are written")
    parser.add_argument("names", nargs="?", type=_names, default=("first", "second"))
    parser.add_argument("--where", type=_where, default=None, help="FIELD=VALUE,... rows kept")
    args = parser.parse_args()
    main(args.first, args.second, args.out, args.names, args.where)
