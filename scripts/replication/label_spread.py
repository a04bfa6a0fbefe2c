"""How much one level's reading moves between neighbouring evaluations: the mean ± std of the
test accuracies at the evaluations labelled 25,000 to 35,000 (the tables read label 30,000), per
level of one chain (docs/replication/README.md: "not one evaluation's noise").

    python scripts/replication/label_spread.py FILE.csv[.gz] --where FIELD=VALUE,... --levels 15,18
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from rows import NAMES, read_rows
from two_runs import _where

LOW, HIGH = 25_000, 35_000


def main(path: Path, where: dict[str, str], levels: list[int]) -> None:
    rows = [
        r
        for r in read_rows(path)
        if all(r.get(k) == v for k, v in where.items())
        and r["split"] == "test"
        and r["label"]
        and LOW <= int(r["label"]) <= HIGH
        and int(r["level"]) in levels
    ]
    print("| dataset | level | evaluations | natural | attack |")
    print("|---|---|---|---|---|")
    for dataset in sorted({r["dataset"] for r in rows}):
        for level in levels:
            mine = [r for r in rows if r["dataset"] == dataset and int(r["level"]) == level]
            if len(mine) < 2:
                continue
            cells = []
            for key in ("acc", "adv_acc"):
                values = [100 * float(r[key]) for r in mine]
                cells.append(f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}")
            print(f"| {NAMES[dataset]} | {level} | {len(mine)} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--where", type=_where, default={}, help="FIELD=VALUE,... rows kept")
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], required=True)
    args = parser.parse_args()
    main(args.file, args.where, args.levels)
