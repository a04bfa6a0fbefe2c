"""Where a dataset's files may be: --data-dir, $ROBUST_TICKETS_DATA, the user cache, system dirs."""

from __future__ import annotations

import os
from pathlib import Path

from robust_tickets.data.spec import DatasetSpec

ENV_VAR = "ROBUST_TICKETS_DATA"


def cache_root() -> Path:
    """Per-user cache for fetched datasets (``$XDG_CACHE_HOME/robust_tickets``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "robust_tickets"


def candidate_dirs(spec: DatasetSpec, data_dir: str | Path | None = None) -> list[Path]:
    """Directories searched, in order. A root directory is tried as ``root/<name>`` and as is."""
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir))
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]))
    roots.append(cache_root())
    dirs: list[Path] = []
    for root in roots:
        dirs += [root / spec.name, root]
    dirs += [Path(d) for d in spec.system_dirs]
    return dirs


def find_file(directory: Path, name: str) -> Path | None:
    """The file `name` or `name.gz` in `directory`, if either exists."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def locate(spec: DatasetSpec, data_dir: str | Path | None = None) -> Path | None:
    """The first candidate directory holding every file of the dataset, or None."""
    for directory in candidate_dirs(spec, data_dir):
        if all(find_file(directory, f.name) for f in spec.files.values()):
            return directory
    return None
