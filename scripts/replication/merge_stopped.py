"""Adds the finished levels of a PGD-adversarial chain run (configs/replicate-pgd-adv.yaml) to
docs/replication/original/pgd_adv_stopped.csv.gz, and checks every level both hold.

    robust-tickets results STORE --csv new.csv
    python scripts/replication/merge_stopped.py new.csv [--replace] [--into FILE]
    python scripts/replication/tables.py

`--into` names another committed file: the full-level chains of
configs/replicate-pgd-adv-full.yaml go to docs/replication/original/pgd_adv_full.csv.gz.

Only levels whose rows say `complete` are taken, so a level still training is never published.
A chain must be one trajectory: a level already committed must come back identical, as it does
when a store is resumed on the same machine. On another CPU float rounding parts the
trajectories from the first step (seen on 5 December 2026), so the script then exits 1, writing
nothing, and says by how much the levels differ; `--replace` publishes the new run's finished
levels alone in place of the committed ones (keep those under another name first).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
from pathlib import Path

from rows import read_rows

ORIGINAL = Path(__file__).resolve().parents[2] / "docs" / "replication" / "original"
TARGET = ORIGINAL / "pgd_adv_stopped.csv.gz"


def by_level(rows: list[dict[str, str]]) -> dict[tuple[str, str], list[dict[str, str]]]:
    """(experiment, level) -> its rows in file order, finished levels only."""
    out: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in rows:
        if r["complete"] == "True":
            out.setdefault((r["experiment"], r["level"]), []).append(r)
    return out


def main(new_csv: Path, replace: bool = False, target: Path = TARGET) -> int:
    old = list(read_rows(target)) if target.exists() and not replace else []
    new = list(read_rows(new_csv))
    if not new:
        print(f"merge_stopped: {new_csv} has no rows")
        return 2
    old_levels, new_levels = by_level(old), by_level(new)
    both = sorted(set(old_levels) & set(new_levels))
    differ = [k for k in both if old_levels[k] != new_levels[k]]
    if differ:
        gap = max(
            abs(float(a[k]) - float(b[k]))
            for key in differ
            for a, b in zip(old_levels[key], new_levels[key], strict=False)
            for k in ("acc", "adv_acc")
        )
        print(
            f"merge_stopped: {len(differ)} of {len(both)} level(s) both hold differ (accuracies "
            f"by up to {100 * gap:.2f} points): another trajectory, nothing written "
            "(--replace publishes the new run alone)"
        )
        return 1
    merged = {**old_levels, **new_levels}
    added = sorted(set(new_levels) - set(old_levels))
    if not added:
        print(f"merge_stopped: {len(both)} level(s) re-run and identical, none added")
        return 0
    fields = list(new[0].keys())
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for key in sorted(merged, key=lambda k: (k[0], int(k[1]))):
        writer.writerows(merged[key])
    # no name and no time in the header (as `gzip -n`): the same rows give the same file
    with open(target, "wb") as raw, gzip.GzipFile("", "wb", 6, raw, mtime=0) as handle:
        handle.write(text.getvalue().encode())
    print(
        f"merge_stopped: {len(both)} level(s) re-run and identical, {len(added)} added: "
        + ", ".join(f"{e.split('-')[0]} {lvl}" for e, lvl in added)
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("new_csv", type=Path, help="`robust-tickets results STORE --csv` output")
    parser.add_argument("--replace", action="store_true", help="publish the new run alone")
    parser.add_argument("--into", type=Path, default=TARGET, help=f"default {TARGET.name}")
    args = parser.parse_args()
    sys.exit(main(args.new_csv, args.replace, args.into))
