"""Identical networks are attacked once: a level whose network is byte-identical to an already
evaluated level of a sibling experiment borrows that level's stored results.

Methods that share a dense start train the same level 0 (a study's reset, rewind, random-mask
and one-shot runs of one seed have bitwise-equal level-0 weights), and AutoAttack on one MNIST
MLP costs minutes of a core. A borrowed result is exactly what attacking again would give: the
twin has the same final weights and masks (sha256 of the files), the same dataset and model,
and the same base seed, trial and level, from which every attack's random seeds are derived
(`runner._evaluate_level`); a level whose checks use a transfer source (its trial's level 0)
needs that source to be identical too. Each entry's key already names the attack's parameters,
eps and number of images, so only equal evaluations are borrowed. What was borrowed, and from
where, is written to ``robustness/borrowed.json``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from robust_tickets.config import ExperimentConfig
from robust_tickets.evaluation.store import Entry, RobustnessDir
from robust_tickets.store import ExperimentDir, LevelDir, find_experiments, read_json, write_json

BORROWED = "borrowed.json"


def fingerprint(level: LevelDir, surrogate: LevelDir | None) -> str:
    """sha256 over the level's final weights and masks (and its transfer source's)."""
    digest = hashlib.sha256()
    for found in (level, surrogate):
        if found is None:
            digest.update(b"-")
            continue
        for path in (found.final, found.masks):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _same_run(a: ExperimentConfig, b: ExperimentConfig) -> bool:
    """What decides the attacks' inputs and seeds besides the weights."""
    return (a.seed, a.data.dataset, a.model.model) == (b.seed, b.data.dataset, b.model.model)


def siblings(exp: ExperimentDir) -> list[ExperimentDir]:
    """The other experiments in the results directory that holds `exp`."""
    return [other for other in find_experiments(exp.path.parent) if other.path != exp.path]


def lendable(
    exp: ExperimentDir,
    config: ExperimentConfig,
    trial: int,
    level: int,
    surrogate: LevelDir | None,
    missing: Iterable[str],
    candidates: Iterable[ExperimentDir] | None = None,
) -> tuple[dict[str, tuple[Entry, Path]], str | None]:
    """Of the entry keys `missing`, those an identical network of a sibling experiment has
    stored: key -> (its entry, the twin level's path), and the level's fingerprint if it was
    computed (None when no sibling had anything to lend). Reads only; nothing is written."""
    missing = list(missing)
    if not missing:
        return {}, None
    here = exp.trial(trial).level(level)
    mine: str | None = None  # hashed only once a candidate has something to lend
    found: dict[str, tuple[Entry, Path]] = {}
    for other in siblings(exp) if candidates is None else candidates:
        if not _same_run(config, other.config()):
            continue
        twin = other.trial(trial).level(level)
        if not twin.is_done():
            continue
        stored = RobustnessDir.of(twin)
        if not stored.examples.is_file():
            continue
        have = stored.load()
        usable = [k for k in missing if k in have and k not in found]
        if not usable:
            continue
        twin_surrogate = other.trial(trial).level(0) if surrogate is not None else None
        if twin_surrogate is not None and not twin_surrogate.is_done():
            continue
        mine = mine or fingerprint(here, surrogate)
        if fingerprint(twin, twin_surrogate) != mine:
            continue
        for key in usable:
            found[key] = (have[key], twin.path)
    return found, mine


def borrow(
    exp: ExperimentDir,
    config: ExperimentConfig,
    trial: int,
    level: int,
    surrogate: LevelDir | None,
    wanted: dict[str, str],
    entries: dict[str, Entry],
    candidates: Iterable[ExperimentDir] | None = None,
) -> dict[str, str]:
    """Copy into `entries` every entry of `wanted` (key -> the role it has here) not stored yet
    that an identical network of a sibling experiment has; returns key -> the level it came
    from, also recorded in the level's ``robustness/borrowed.json``."""
    missing = [k for k in wanted if k not in entries]
    found, digest = lendable(exp, config, trial, level, surrogate, missing, candidates)
    taken: dict[str, str] = {}
    for key, (entry, twin) in found.items():
        entries[key] = Entry(**{**entry.meta(), "role": wanted[key]}, robust=entry.robust)
        taken[key] = str(twin)
    if taken:
        _record(RobustnessDir.of(exp.trial(trial).level(level)).path, taken, digest)
    return taken


def _record(folder: Path, taken: dict[str, str], digest: str | None) -> None:
    path = folder / BORROWED
    record = read_json(path) if path.is_file() else {"sha256": digest, "entries": {}}
    record["entries"].update(taken)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(path, record)
