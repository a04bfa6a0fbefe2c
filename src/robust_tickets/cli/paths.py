"""Checks of the output paths users give, before any work: a file in the way is named."""

from __future__ import annotations

import argparse
from pathlib import Path

from robust_tickets.errors import UserError


def _not_empty(text: str) -> str:
    # Path("") is the current directory: an empty value (an unset shell variable, `-o ""`)
    # would silently write there.
    if not text.strip():
        raise argparse.ArgumentTypeError('empty path: give one ("." for the current directory)')
    return text


def output_path(text: str) -> Path:
    """argparse type of a path to write to (-o/--output/--out): never empty."""
    return Path(_not_empty(text))


def path_text(text: str) -> str:
    """argparse type of a path kept as text (--csv FILE, --data-dir): never empty."""
    return _not_empty(text)


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
