"""`robust-tickets report DIR...`: the paper's figures and tables as one self-contained page."""

from __future__ import annotations

import argparse
from pathlib import Path

from robust_tickets.cli.paths import output_path

ORDER = 40


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="write figures, tables and one HTML page from result directories",
        description="Read the results under DIR... (never retrains) and write REPORT_DIR/"
        "index.html plus every figure as PNG and SVG and every table as Markdown, LaTeX and "
        "CSV. Prints the path of index.html.",
    )
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR")
    parser.add_argument(
        "--out",
        "-o",
        type=output_path,
        default=None,
        metavar="REPORT_DIR",
        help="where to write the report (default: reports/<name of DIR>); a previous report "
        "there is replaced as a whole",
    )
    parser.add_argument(
        "--at-iteration",
        type=int,
        default=None,
        metavar="N",
        help="iteration of each level the tables and accuracy figure use (default 30000, as "
        "the paper; shorter runs use their last evaluated iteration and say so)",
    )
    parser.add_argument(
        "--replication",
        type=Path,
        default=None,
        metavar="CSV",
        help="published replication results (`robust-tickets results DIR --csv`) drawn as a "
        "reference (default: docs/replication/metrics.csv of this checkout, when it exists)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from robust_tickets.cli.paths import check_parents
    from robust_tickets.errors import UserError
    from robust_tickets.report import DEFAULT_AT, build_report
    from robust_tickets.report.replication import default_path

    at = DEFAULT_AT if args.at_iteration is None else args.at_iteration
    if args.out is not None:
        check_parents(args.out, "--out")
    replication = args.replication
    if replication is not None and not replication.is_file():
        raise UserError(f"--replication {replication} is not a file: give a `results --csv` file")
    if replication is None and default_path().is_file():
        replication = default_path()
    import sys

    def say(message: str) -> None:  # phases on stderr; stdout stays the page's path
        print(message, file=sys.stderr, flush=True)

    # phases for a person watching; a pipe or a script gets stderr for a one-line error only
    print(
        build_report(args.dirs, args.out, at, replication, say=say if sys.stderr.isatty() else None)
    )
    return 0
