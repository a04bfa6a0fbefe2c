"""`robust-tickets` entry point: subcommands, one-line errors, exit codes.

Exit codes: 0 success, 1 a job failed (sweeps), 2 bad input (one line on stderr, no traceback),
130 interrupted (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence

from robust_tickets import __version__
from robust_tickets.cli import memory
from robust_tickets.errors import RunFailed, UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# What to do about a filesystem error, by errno; anything else is not the user's to fix.
_FS_HINTS = {
    errno.ENOSPC: "free some space or choose another location",
    errno.EDQUOT: "free some space or choose another location",
    errno.EACCES: "choose a location you can write to",
    errno.EPERM: "choose a location you can write to",
    errno.EROFS: "the filesystem is read-only: choose another location",
    errno.ENOTDIR: "part of the path is a file: choose another location",
    errno.EISDIR: "it is a directory: choose another location",
    errno.EEXIST: "a file is in the way: choose another location",
    errno.ENOENT: "check the path",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.ELOOP: "the path has a symbolic-link loop: check it",
    errno.EIO: "the disk reported an I/O error: check it, or choose another location",
}


def filesystem_error(exc: OSError) -> str | None:
    """One line for a filesystem error on a path (full disk, read-only, a file in the way),
    or None when the error is not one (then it is a bug and keeps its traceback)."""
    hint = _FS_HINTS.get(exc.errno or -1)
    if hint is None:
        return None
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot use{where} ({exc.strerror or exc}): {hint}"


def subcommand_modules() -> list:
    """Every module of this package that defines `add_parser` (one module per subcommand),
    ordered by its `ORDER` (then name); a new subcommand needs no edit here."""
    import importlib
    import pkgutil

    import robust_tickets.cli as package

    modules = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in ("main", "options"):
            continue
        module = importlib.import_module(f"robust_tickets.cli.{info.name}")
        if hasattr(module, "add_parser"):
            modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 50), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="robust-tickets",
        description="Find sparse, adversarially robust lottery tickets, and measure them honestly.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in subcommand_modules():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:  # start its worker processes before this one imports torch
        from robust_tickets.cli.run import early_workers
        from robust_tickets.engine import prestart

        prestart.prestart(early_workers(argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UserError, RunFailed) as exc:
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
    except (MemoryError, RuntimeError) as exc:
        if not memory.is_out_of_memory(exc):  # a bug: keep its traceback
            raise
        print(
            f"robust-tickets {args.command}: error: {memory.message(exc, args.command)}",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        message = filesystem_error(exc)
        if message is None:  # not about a path the user chose: a bug, keep its traceback
            raise
        print(f"robust-tickets {args.command}: error: {message}", file=sys.stderr)
        return 2
    finally:
        from robust_tickets.engine import prestart

        prestart.release()  # any prestarted worker the command did not use


if __name__ == "__main__":
    raise SystemExit(main())
