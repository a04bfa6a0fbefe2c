"""A trial's levels copied from a sibling experiment instead of trained again: its dense
level 0, or the levels of a chain that differs only in length.

The methods of a study differ in how they prune (strategy, criterion, allocation, one-shot, the
levels pruned to), not in how the dense level 0 trains: each would train the same network, bit
for bit, from the same seeds. Before training a trial's level 0, the runner looks in the same
results directory for an experiment whose settings agree on everything level 0 reads
(`level0_settings`) and whose level 0 of that trial is finished on the same data, and copies it.

What level 0 does not read is declared where it is owned: the pruning components (`after_level0`
on each strategy, criterion and allocation) and the run-wide fields marked `after_level0` in
`config.PruneConfig`. Anything else, a field or component added later included, keeps runs
apart. A strategy that keeps a snapshot of level 0 (`rewind`'s step K) borrows only from a run
that kept the same one.

A chain that only grows longer is also a sibling: runs that differ in nothing but how many levels
they prune to (`chain_settings`: `prune_iters`, or a `prune_levels` list that one extends) train
the same levels 1..k wherever their schedules agree up to k. So before training a pruned level,
the runner copies it from a sibling that finished it, provided the sibling's level before it is
byte for byte this trial's (its final weights and masks): extending a finished chain trains only
the new levels.

The copy is made in a hidden directory of the trial and renamed into place, so a level is either
whole or absent; the lender is only read. `borrowed_from.json` in the level says where it came
from.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from robust_tickets.config import FIELD_META, SETTINGS, SLOTS, ExperimentConfig
from robust_tickets.errors import UserError
from robust_tickets.pruning import STRATEGIES
from robust_tickets.resolve import REGISTRIES
from robust_tickets.store import (
    TRAINED_FILES,
    ExperimentDir,
    LevelDir,
    TrialDir,
    find_experiments,
    load_masks_file,
    load_state_file,
    read_json,
    read_level_info,
    read_metrics,
    write_json,
)

TEMP_MARK = ".borrowing."  # hidden, and not `.*.tmp` (remove_stale_temps: files)
# what the count of a chain's levels is made of: a run with more of them extends one with fewer
CHAIN_LENGTH = ("prune_iters", "prune_levels")
# what a level 0 started here (no level.json yet) may hold: redone from the seeds anyway
_START_FILES = {"masks.safetensors", "init.safetensors"}


def level0_settings(config: ExperimentConfig) -> dict[str, Any]:
    """Every setting a trial's level 0 may read: the run-wide fields but those marked
    `after_level0`, and each chosen component with all its settings unless it is declared
    `after_level0`. Two runs with equal values train the same level 0."""
    return _settings(config, level0=True)


def chain_settings(config: ExperimentConfig) -> dict[str, Any]:
    """Every setting of a run but how many levels it prunes to (`CHAIN_LENGTH`): two runs with
    equal values train the same pruned level k wherever their schedules agree on levels 1..k."""
    return _settings(config, level0=False)


def _settings(config: ExperimentConfig, level0: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    owned: set[str] = set()  # settings some component owns: compared through its spec
    for slot in SLOTS:
        owned.update(flat for flat, _, _ in REGISTRIES[slot].settings())
    flat = config.flat()
    for name, meta in FIELD_META.items():
        if name in SLOTS or (name in SETTINGS and name in owned):
            continue
        if (level0 and meta.get("after_level0")) or (not level0 and name in CHAIN_LENGTH):
            continue
        out[name] = flat[name]
    for slot, spec in config.specs().items():
        if level0 and REGISTRIES[slot].cls(spec).after_level0:
            continue
        params = spec.params.flat() if spec.params is not None else None
        out[slot] = (spec.name, params)
    return out


def rewind_step(config: ExperimentConfig) -> int | None:
    """The step of level 0 the config's strategy keeps a snapshot of, or None."""
    return STRATEGIES.get(config.prune.strategy).rewind_step()


@dataclass(frozen=True)
class Sibling:
    """An experiment of a store with what decides whether it lends to a run."""

    exp: ExperimentDir
    level0: dict[str, Any]
    chain: dict[str, Any]
    schedule: tuple[int, ...]
    rewind: int | None


def siblings(root: Path) -> list[Sibling]:
    """Every readable experiment at or below `root`, each read once (a damaged or foreign one
    lends nothing)."""
    out = []
    for exp in find_experiments(root):
        try:
            config = exp.config()
        except UserError:
            continue
        out.append(
            Sibling(exp, level0_settings(config), chain_settings(config),
                    config.prune.schedule_levels, rewind_step(config))
        )  # fmt: skip
    return out


def _others(exp: ExperimentDir, store: list[Sibling] | None = None) -> list[Sibling]:
    """The siblings of `exp` in its store (`store`: read already), itself left out."""
    me = exp.path.resolve()
    found = siblings(exp.path.parent) if store is None else store
    return [other for other in found if other.exp.path.resolve() != me]


def borrow_level0(
    exp: ExperimentDir,
    config: ExperimentConfig,
    trial: int,
    model: nn.Module,
    data: str,
    data_files: bool = False,
) -> dict[str, Any] | None:
    """Copy `trial`'s level 0 from a sibling experiment that trained it with the same settings
    on the same data (`data`: `data.splits_digest`); returns the record written to
    `borrowed_from.json`, or None when no sibling can lend it (then train it here). The caller
    holds the trial (a claim, or the only process running it); the lender is only read.

    A lender from before done.json recorded its data lends only to a run on the dataset's own
    verified files (`data_files`): the data every command-line run and sweep job reads, which
    its settings (dataset, valid_size) decide, as the store's identity of runs already assumes."""
    trial_dir = exp.trial(trial)
    target = trial_dir.level(0)
    if target.info.exists() or target.checkpoint.exists():
        return None  # started here: it resumes from its own files
    if target.path.is_dir() and not _only_start_files(target.path):
        return None
    remove_leftovers(trial_dir)
    wanted, step = level0_settings(config), rewind_step(config)
    for other in _others(exp):  # a damaged or foreign sibling lends nothing
        if other.level0 != wanted:
            continue
        if step is not None and other.rewind != step:
            continue  # the lender did not keep the snapshot this run needs
        try:
            record = _copy(
                other.exp, trial, 0, trial_dir, model, (data, data_files), step,
                config.train.co_check,
            )  # fmt: skip
        except (OSError, UserError):  # unfinished, damaged, or moved meanwhile: try the next
            continue
        if record is not None:
            return record
    return None


def borrow_level(
    exp: ExperimentDir,
    config: ExperimentConfig,
    trial: int,
    level: int,
    model: nn.Module,
    data: str,
    data_files: bool = False,
) -> dict[str, Any] | None:
    """Copy pruned level `level` (>= 1) of `trial` from a sibling experiment whose chain this
    one shares up to that level: equal `chain_settings`, the same schedule levels 1..`level`,
    and a level `level` - 1 whose final weights and masks are byte for byte this trial's (so
    the copy continues this very chain). Returns the record written to `borrowed_from.json`,
    or None (then train it here). The caller holds the trial."""
    trial_dir = exp.trial(trial)
    target, before = trial_dir.level(level), trial_dir.level(level - 1)
    if level < 1 or not before.is_done() or target.info.exists() or target.checkpoint.exists():
        return None
    if target.path.is_dir() and not _only_start_files(target.path):
        return None
    remove_leftovers(trial_dir)
    wanted, prefix = chain_settings(config), config.prune.schedule_levels[:level]
    ours = _sha256(before.final), _sha256(before.masks)
    for other in _others(exp):
        if other.chain != wanted or other.schedule[:level] != prefix:
            continue  # another run, a shorter chain, or one that pruned to other levels
        theirs = other.exp.trial(trial).level(level - 1)
        try:
            if not theirs.is_done() or (_sha256(theirs.final), _sha256(theirs.masks)) != ours:
                continue  # not the chain this trial has trained so far
            record = _copy(
                other.exp, trial, level, trial_dir, model, (data, data_files), None,
                config.train.co_check,
            )  # fmt: skip
        except (OSError, UserError):
            continue
        if record is not None:
            return record
    return None


def lendable_levels(
    exp: ExperimentDir, config: ExperimentConfig, trial: int, store: list[Sibling] | None = None
) -> tuple[int, str]:
    """How many of `trial`'s first levels a sibling in the store has finished that the trial
    would copy instead of training (level 0 from a sibling with the same level-0 settings and
    snapshot; levels 0..k from a sibling of the same chain), and that sibling's name ("" for
    none): what `sweep --dry-run` leaves out of its estimate. `store`: `siblings` of the
    experiment's parent, read once for many calls. It reads small files only, so a trial whose
    own earlier levels are not the sibling's (trained elsewhere) may still train some."""
    level0, chain = level0_settings(config), chain_settings(config)
    ours, step = config.prune.schedule_levels, rewind_step(config)
    best, lender = 0, ""
    for other in _others(exp, store):
        levels = other.exp.trial(trial)
        if other.chain == chain:
            both = min(len(ours), len(other.schedule))
            # the last level both prune to alike: schedule_levels[i] is level i + 1's
            last = next((i for i in range(both) if ours[i] != other.schedule[i]), both)
            count = 0
            while count <= last and levels.level(count).is_done():
                count += 1
        elif other.level0 == level0 and other.rewind == step:
            count = int(levels.level(0).is_done())
        else:
            continue
        if count > best:
            best, lender = count, other.exp.path.name
    return best, lender


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remove_leftovers(trial_dir: TrialDir) -> None:
    """Remove what a copy cut short (kill -9) left in a trial: its hidden directories. Only for
    the process that holds the trial, before a level starts."""
    if trial_dir.path.is_dir():
        for leftover in trial_dir.path.glob(f".level_*{TEMP_MARK}*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _only_start_files(path: Path) -> bool:
    return all(p.name in _START_FILES or p.name.endswith(".tmp") for p in path.iterdir())


def _copy(
    lender: ExperimentDir,
    trial: int,
    level: int,
    trial_dir: TrialDir,
    model: nn.Module,
    data: tuple[str, bool],
    step: int | None,
    co_check: bool,
) -> dict[str, Any] | None:
    """Copy the lender's finished `level` (and, at level 0, the snapshot at `step`) into place;
    None if it cannot lend."""
    source = lender.trial(trial).level(level)
    if not source.is_done():
        return None
    done = source.done.read_bytes()
    digest, from_files = data
    recorded = read_json(source.done).get("data_sha256")
    if recorded != digest and not (recorded is None and from_files):
        return None  # other data, or unrecorded data and this run's are not the dataset's files
    snapshot = lender.trial(trial).rewind
    if step is not None and not snapshot.is_file():
        return None
    wanted = [n for n in TRAINED_FILES if n != "co.json" or co_check]
    if any(not (source.path / n).is_file() for n in wanted):
        return None
    trial_dir.path.mkdir(parents=True, exist_ok=True)
    temp = trial_dir.path / f".level_{level:02d}{TEMP_MARK}{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    try:
        sha: dict[str, str] = {}
        for name in wanted:
            content = (source.path / name).read_bytes()
            _write(temp / name, content)
            if name.endswith(".safetensors"):
                sha[name] = hashlib.sha256(content).hexdigest()
        copied = LevelDir(temp)  # read back as a resume would: whole, and this model's
        for path in (copied.init, copied.final):
            load_state_file(path, model)
        load_masks_file(copied.masks, model)
        read_level_info(copied.info)
        read_metrics(copied.metrics)
        kept = temp / snapshot.name  # moved out beside the level just before it goes in place
        if step is not None:
            content = snapshot.read_bytes()
            _write(kept, content)
            load_state_file(kept, model)
            sha[snapshot.name] = hashlib.sha256(content).hexdigest()
        if source.done.read_bytes() != done:  # redone (--force) while we copied
            return None
        record = {
            "experiment": lender.path.name,
            "trial": trial,
            "level": level,
            "sha256": sha,
            # the data's sha256 as the lender recorded it (None: from before it was recorded,
            # borrowed since this run reads the dataset's verified files)
            "lender_data_sha256": recorded,
            "copied": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        write_json(copied.borrowed, record)
        if step is not None:  # first: a level 0 in place never lacks its snapshot
            os.replace(kept, trial_dir.rewind)
        target = trial_dir.level(level).path
        if target.is_dir():  # only a start's files (checked by the caller): redone anyway
            shutil.rmtree(target)
        os.rename(temp, target)
        return record
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _write(path: Path, content: bytes) -> None:
    # owner-only, as the store's atomic writes (mkstemp) leave every file
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def describe(record: dict[str, Any]) -> str:
    """One line for the progress output: where a borrowed level came from."""
    digest = record.get("sha256", {}).get("final.safetensors", "")[:12]
    level = int(record.get("level", 0))
    same = "settings" if level == 0 else "settings and chain up to this level"
    return (
        f"trial {record['trial']} level {level}: copied from {record['experiment']}, which "
        f"trained it with the same {same} and data (final.safetensors sha256 {digest}...); "
        "--no-borrow trains it here instead"
    )


def borrowed_record(level: LevelDir) -> dict[str, Any] | None:
    """A level's borrowed_from.json, or None if it was trained in place (or is unreadable)."""
    if not level.borrowed.is_file():
        return None
    with contextlib.suppress(UserError):
        record = read_json(level.borrowed)
        if isinstance(record, dict) and "experiment" in record and "trial" in record:
            return record
    return None
