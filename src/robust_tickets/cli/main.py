"""`robust-tickets` entry point: subcommands, one-line errors, exit codes.

Exit codes: 0 success, 1 a job failed (sweeps), 2 bad input (one line on stderr, no traceback),
130 interrupted (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from robust_tickets import __version__
from robust_tickets.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    # Imported here so `--help` of one subcommand does not pay for importing the others' deps.
    from robust_tickets.cli import data as data_cmd
    from robust_tickets.cli import results as results_cmd
    from robust_tickets.cli import run as run_cmd

    parser = OneLineParser(
        prog="robust-tickets",
        description="Find sparse, adversarially robust lottery tickets, and measure them honestly.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in (run_cmd, results_cmd, data_cmd):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"robust-tickets {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            f"\nrobust-tickets {args.command}: interrupted; run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # e.g. `results --json | head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
