"""Where the benchmark scripts write their raw numbers."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def unused_path(stem: str, folder: Path = RESULTS) -> Path:
    """folder/stem.json, or stem-2.json, -3, ...: an earlier run's numbers are never replaced."""
    path, n = folder / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.json"
    return path
