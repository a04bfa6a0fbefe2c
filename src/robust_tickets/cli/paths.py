"""Checks of the output paths users give, before any work: a file in the way is named."""

from __future__ import annotations

from pathlib import Path

from robust_tickets.errors import UserError


def check_output_dir(path: Path, flag: str) -> None:
    """`path` must be a directory, or creatable as one (no file at it or above it)."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file, not a directory: choose another {flag}")
    check_parents(path, flag)


def check_parents(path: Path, flag: str) -> None:
    """No file may stand where a directory above `path` has to be."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(
                    f"{flag} {path} cannot be created: {parent} is a file: choose another {flag}"
                )
            return
