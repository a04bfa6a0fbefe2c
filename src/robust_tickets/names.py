"""The names the registries register and the settings of their components, known without
importing torch.

`robust-tickets run --help` lists the datasets, models, attacks, strategies, allocations,
criteria, optimizers, schedules and objectives a run accepts, and every component setting
(flag, YAML field, sweep axis) with its type, default and help; importing the registries to
learn them would import torch (2-3 s). So they are read from the components' source by
`robust_tickets.scan` (`ast`, nothing imported or run): a component's file is all there is to
add, no list here to extend. What a scan found is kept in the user's cache folder
(``~/.cache/robust-tickets/``) and used while no file it read has changed, so a process reads
it in about a millisecond, without even compiling the scanner, instead of parsing some thirty
files.

The registries (data/, models/, attacks/, pruning/, optim/, objectives/) stay what runs and
what validates; tests/test_help.py fails when what is read here differs from them (a
registration the scanner cannot see). Aliases are not listed: they are accepted for old
configs, not offered.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple


class Kind(NamedTuple):
    """A config field's registry: the variable its names are registered in, and whether it
    holds components (registered with ``@REGISTRY.add``, each owning its settings) or plain
    objects (``REGISTRY.register("name")(obj)``)."""

    registry: str
    components: bool = False


# Where the components live: folders of the package, searched with their subfolders.
FOLDERS = ("data/datasets", "models", "attacks", "pruning", "optim", "objectives")
# Config field -> the registry its choices are registered in.
KINDS: dict[str, Kind] = {
    "dataset": Kind("DATASETS"),
    "model": Kind("MODELS"),
    "attack": Kind("ATTACKS", components=True),
    "strategy": Kind("STRATEGIES", components=True),
    "prune_method": Kind("PRUNE_METHODS", components=True),
    "criterion": Kind("CRITERIA", components=True),
    "optimizer": Kind("OPTIMIZERS", components=True),
    "lr_schedule": Kind("SCHEDULES", components=True),
    "objective": Kind("OBJECTIVES", components=True),
}

Names = dict[str, tuple[str, ...]]
Settings = dict[str, tuple[type, Any, str]]
_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}


def cached_scan(
    package: Path, folders: tuple[str, ...], kinds: Mapping[str, Kind], cache: Path | None
) -> tuple[Names, Settings]:
    """`robust_tickets.scan.scan`'s names and settings, kept in the JSON file `cache` with the
    size and modification time of every file the scan read (and of the scanner): used while
    the folders hold the same files and none of those changed, as Python's bytecode cache
    is; rewritten after a scan where it can be (if not, or with no `cache`, every call
    scans)."""
    key = {
        "package": str(package),
        "folders": list(folders),
        "kinds": {name: list(kind) for name, kind in kinds.items()},
        "files": [str(p) for f in folders for p in sorted((package / f).rglob("*.py"))],
    }
    try:
        kept = json.loads(cache.read_text(encoding="utf-8")) if cache else None
        if kept and kept["key"] == key and kept["stamps"] == _stamps(kept["stamps"]):
            return (
                {name: tuple(found) for name, found in kept["names"].items()},
                {flat: (_TYPES[k], default, text) for flat, k, default, text in kept["settings"]},
            )
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache yet, or an unreadable one: scan
    from robust_tickets import scan  # the scanner, compiled only when it runs

    found = scan.scan(package, folders, kinds)
    if cache is not None:
        _keep(
            cache,
            {
                "key": key,
                "stamps": _stamps(str(p) for p in (*found.sources, Path(scan.__file__).resolve())),
                "names": {name: list(names) for name, names in found.names.items()},
                "settings": [
                    [flat, k.__name__, d, t] for flat, (k, d, t) in found.settings.items()
                ],
            },
        )
    return found.names, found.settings


def _stamps(paths: Iterable[str]) -> dict[str, list[int] | None]:
    """Path -> [modification time (ns), size], or None for a file gone."""
    out: dict[str, list[int] | None] = {}
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            out[path] = None
        else:
            out[path] = [stat.st_mtime_ns, stat.st_size]
    return out


def _keep(cache: Path, record: dict[str, Any]) -> None:
    """`record` written to `cache` whole, then renamed (a process reading it never sees half a
    file); nothing where it cannot be written."""
    import tempfile  # only here: it takes longer to import than reading the cache takes

    temporary = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=cache.parent, prefix=cache.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.chmod(temporary, 0o644)
        os.replace(temporary, cache)
    except OSError:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _cache(package: Path) -> Path | None:
    """Where the scan of `package` is kept: the user's cache folder (``$XDG_CACHE_HOME`` or
    ~/.cache), one file per copy of the package; None where there is no home."""
    try:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:
        return None
    digest = hashlib.sha256(str(package).encode()).hexdigest()[:16]
    return root / "robust-tickets" / f"names-{digest}.json"


_PACKAGE = Path(__file__).resolve().parent
_NAMES, _SETTINGS = cached_scan(_PACKAGE, FOLDERS, KINDS, _cache(_PACKAGE))

# Config field -> the names it accepts, sorted (what `run --help` shows beside each flag).
FIELD_CHOICES: Names = _NAMES
DATASETS = FIELD_CHOICES["dataset"]
MODELS = FIELD_CHOICES["model"]
ATTACKS = FIELD_CHOICES["attack"]
STRATEGIES = FIELD_CHOICES["strategy"]
PRUNE_METHODS = FIELD_CHOICES["prune_method"]
CRITERIA = FIELD_CHOICES["criterion"]
OPTIMIZERS = FIELD_CHOICES["optimizer"]
SCHEDULES = FIELD_CHOICES["lr_schedule"]
OBJECTIVES = FIELD_CHOICES["objective"]

# Component setting's flat name -> (type, default, help): what the components' `Params`
# declare, in the order of `components.flag_help` (by kind as above, then component name),
# each help naming the components that read the setting.
SETTINGS: Settings = _SETTINGS
