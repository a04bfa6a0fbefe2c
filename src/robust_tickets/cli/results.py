"""`robust-tickets results DIR`: every metrics row under DIR, as JSON lines or one CSV table."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from robust_tickets.cli.paths import path_text
from robust_tickets.errors import UserError

ORDER = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("results", help="print every metrics row under result directories")
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object per line (default)")
    fmt.add_argument(
        "--csv",
        nargs="?",
        const="-",
        type=path_text,
        metavar="FILE",
        help="one CSV table, to FILE or stdout",
    )
    parser.add_argument(
        "--eval",
        action="store_true",
        help="also the `robustness` and `masking-check` rows of `robust-tickets evaluate`",
    )
    parser.set_defaults(handler=handle)


def check_target(target: Path, dirs: list[Path]) -> None:
    """`--csv FILE` must be a new or plain file outside every results store: written inside
    one it could replace a run's own files (metrics.csv, config.yaml) or be read as results."""
    from robust_tickets.cli.paths import check_parents
    from robust_tickets.store import CONFIG_FILE

    if target.is_dir():
        raise UserError(f"--csv {target} is a directory: give a file name")
    check_parents(target, "--csv")
    resolved = target.resolve()
    for directory in dirs:
        root = directory.resolve()
        if resolved.is_relative_to(root):
            raise UserError(
                f"--csv {target} is inside the results directory {directory}: write the table "
                "outside any results store"
            )
    for parent in resolved.parents:
        if (parent / CONFIG_FILE).is_file() or (parent / ".sweep").is_dir():
            raise UserError(
                f"--csv {target} is inside the results store {parent}: write the table "
                "outside any results store"
            )


def handle(args: argparse.Namespace) -> int:
    from robust_tickets.results import iter_rows, table_fields
    from robust_tickets.store import atomic_write_text

    for directory in args.dirs:
        if not directory.exists():
            raise UserError(f"{directory} does not exist: give a results directory")
    if args.csv not in (None, "-"):
        check_target(Path(args.csv), args.dirs)
    rows = list(iter_rows(args.dirs, include_eval=args.eval))  # an experiment once, however named
    if not rows:
        raise UserError(
            f"no results under {', '.join(map(str, args.dirs))}: run `robust-tickets run` first"
        )
    if args.csv is None:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return 0
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=table_fields(args.eval), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if args.csv == "-":
        sys.stdout.write(buffer.getvalue())
    else:
        atomic_write_text(Path(args.csv), buffer.getvalue())  # checked before reading
        print(f"wrote {len(rows)} rows to {args.csv}", file=sys.stderr)
    return 0
