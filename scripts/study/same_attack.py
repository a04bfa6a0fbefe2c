"""Compare one attack's stored per-image results on the same network, evaluated twice (e.g.
FAB-T with pyautoattack's L-inf projection and with robust_tickets' own), image by image.

    python scripts/study/same_attack.py STORED_LEVEL_DIR AGAIN_LEVEL_DIR --attack fab-t \
        --out docs/study/fab-projection-check.json

Each LEVEL_DIR is a `trial_K/level_LL` folder with `robustness/`; every entry of the attack
present in both (same parameters, eps and number of images) is compared. Exit 1 if any image
differs, so a script can stop before mixing the two implementations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from robust_tickets.evaluation.store import RobustnessDir
from robust_tickets.store import LevelDir


def compare(stored: Path, again: Path, attack: str) -> list[dict]:
    a = RobustnessDir.of(LevelDir(stored)).load()
    b = RobustnessDir.of(LevelDir(again)).load()
    rows = []
    for key in sorted(set(a) & set(b)):
        if a[key].attack != attack:
            continue
        ra, rb = a[key].robust.bool(), b[key].robust.bool()
        rows.append(
            {
                "key": key,
                "n": len(ra),
                "robust_stored": int(ra.sum()),
                "robust_again": int(rb.sum()),
                "images_that_differ": int((ra != rb).sum()),
                "seconds_stored": round(a[key].seconds, 1),
                "seconds_again": round(b[key].seconds, 1),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stored", type=Path)
    parser.add_argument("again", type=Path)
    parser.add_argument("--attack", default="fab-t")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = compare(args.stored, args.again, args.attack)
    if not rows:
        print(f"no {args.attack} entry is stored in both", file=sys.stderr)
        return 2
    for row in rows:
        print(
            f"{row['key']}: {row['robust_stored']} vs {row['robust_again']} of {row['n']} "
            f"robust, {row['images_that_differ']} image(s) differ; "
            f"{row['seconds_stored']} s vs {row['seconds_again']} s"
        )
    if args.out:
        record = {"stored": str(args.stored), "again": str(args.again), "rows": rows}
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 1 if any(r["images_that_differ"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
