"""The results store: the only module that knows the directory layout. Every write is atomic.

OUTPUT/<dataset>-<model>-<attack>-<adv|nat>-<strategy>-<hash>/
    config.yaml                  the full experiment config (+ name, hash, version)
    trial_<t>/
        rewind.safetensors       level-0 weights at `rewind_iter` (strategy `rewind`)
        level_<LL>/
            level.json           level, % of weights remaining, written when it starts
            masks.safetensors    binary masks of this level
            init.safetensors     weights the level started from
            metrics.csv          iteration,split,loss,acc,adv_loss,adv_acc (grows as it runs)
            checkpoint.safetensors  resumable training state (removed when the level ends)
            final.safetensors    weights at the end of the level
            co.json              the overfitting check's record (co_check only)
            done.json            completion marker, written last
            borrowed_from.json   when the level was copied from a sibling (`engine.borrow`)
    .replaced/<time>/trial_<t>/  what `--force` moved aside (never deleted)
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file, save
from torch import nn

from robust_tickets import __version__
from robust_tickets.config import ExperimentConfig
from robust_tickets.errors import UserError
from robust_tickets.models.ticket import masks_mismatch, state_mismatch
from robust_tickets.resolve import config_from_dict
from robust_tickets.schedule import level_steps, num_levels

# `label`: the evaluation's label in the original code's counting (`robust_tickets.schedule`):
# the step itself for the default loop, blank for the keras loop's unlabelled final evaluation;
# files written before it existed have no such column (their label is the step).
METRIC_FIELDS = ("iteration", "split", "loss", "acc", "adv_loss", "adv_acc", "label")
CONFIG_FILE = "config.yaml"


# ---- damaged files: named, with what to do, never a traceback -----------------------------
class DamagedFile(UserError):
    """A file of the store that cannot be read back (truncated, corrupt, edited by hand)."""


_REDO = "redo the trial with `--force` (the damaged one is moved to .replaced/, not deleted)"
_RECOMPUTE = "remove it and rerun `robust-tickets evaluate`, which recomputes what it held"
ADVICE = {
    "checkpoint.safetensors": "remove it and rerun: the level restarts from its beginning",
    CONFIG_FILE: "restore it, or move the experiment directory away and rerun",
    "examples.safetensors": _RECOMPUTE,
    "robustness.csv": _RECOMPUTE.replace("recomputes what it held", "rewrites it"),
    "checks.json": _RECOMPUTE.replace("recomputes what it held", "rewrites it"),
}


# a config whose values this version refuses: edited by hand, or written by a newer version
# with settings this one does not know (its "damage" is then this installation's age)
NEWER_CONFIG = f"if a newer robust-tickets wrote it, upgrade to read it; else {ADVICE[CONFIG_FILE]}"


def damaged(path: Path, error: BaseException | str, advice: str | None = None) -> DamagedFile:
    """The one-line error for a damaged store file: which file, why, and what to do."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, FileNotFoundError):
        reason = "missing"
    advice = advice or ADVICE.get(path.name, _REDO)
    return DamagedFile(f"{path} is damaged ({reason[:120]}): {advice}")


# ---- atomic primitives ------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then rename over `path`. A failure
    (full disk, read-only) leaves `path` as it was and no temp file; its OSError names `path`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(error.filename or path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise


def remove_stale_temps(directory: Path) -> None:
    """Delete temp files that a killed writer (kill -9 mid-write) left in `directory`; the
    final files are whole either way. Call only where no other writer is active."""
    for leftover in directory.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_tensors(
    path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str] | None = None
) -> None:
    payload = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, save(payload, metadata=meta))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as error:  # safetensors raises its own error type, or OSError
        raise damaged(path, error) from None


def load_tensor_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as error:
        raise damaged(path, error) from None


def write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=1, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise damaged(path, error) from None


def read_level_info(path: Path) -> dict[str, Any]:
    """level.json: its `remaining` must be a number."""
    info = read_json(path)
    try:
        float(info["remaining"])
    except (KeyError, TypeError, ValueError) as error:
        raise damaged(path, f"no number `remaining`: {error}") from None
    return info


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        # rows checkpointed before labels existed are labelled by their step
        writer.writerow(
            {"label": row["iteration"], **{k: row[k] for k in METRIC_FIELDS if k in row}}
        )
    atomic_write_text(path, buffer.getvalue())


def _label(row: dict[str, str]) -> int | None:
    if "label" not in row or row["label"] is None:  # written before labels existed
        return int(row["iteration"])
    return int(row["label"]) if row["label"] != "" else None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        out = []
        for number, row in enumerate(rows, start=2):
            try:
                out.append(
                    {
                        "iteration": int(row["iteration"]),
                        "split": str(row["split"]),
                        **{k: float(row[k]) for k in ("loss", "acc", "adv_loss", "adv_acc")},
                        "label": _label(row),
                    }
                )
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"line {number}: {error}") from None
    except (OSError, ValueError, csv.Error) as error:  # UnicodeDecodeError is a ValueError
        raise damaged(path, error) from None
    return out


# ---- layout -----------------------------------------------------------------------------
# What training leaves in a finished level (the checkpoint is gone by then; `robustness/` is
# evaluate's): what a level 0 borrowed from a sibling run is made of. `co.json` only with
# co_check. A file added to a level must be added here too (tests/test_borrow_level0.py).
TRAINED_FILES = (
    "level.json",
    "masks.safetensors",
    "init.safetensors",
    "metrics.csv",
    "final.safetensors",
    "co.json",
    "done.json",
)


@dataclass(frozen=True)
class LevelDir:
    path: Path

    masks = property(lambda self: self.path / "masks.safetensors")
    init = property(lambda self: self.path / "init.safetensors")
    final = property(lambda self: self.path / "final.safetensors")
    metrics = property(lambda self: self.path / "metrics.csv")
    checkpoint = property(lambda self: self.path / "checkpoint.safetensors")
    info = property(lambda self: self.path / "level.json")
    co = property(lambda self: self.path / "co.json")
    done = property(lambda self: self.path / "done.json")
    borrowed = property(lambda self: self.path / "borrowed_from.json")  # if copied

    def is_done(self) -> bool:
        return self.done.is_file()


@dataclass(frozen=True)
class TrialDir:
    path: Path

    @property
    def rewind(self) -> Path:
        return self.path / "rewind.safetensors"

    def level(self, level: int) -> LevelDir:
        return LevelDir(self.path / f"level_{level:02d}")

    def levels(self) -> list[tuple[int, LevelDir]]:
        found = []
        for child in sorted(self.path.glob("level_*")):
            suffix = child.name.removeprefix("level_")
            if child.is_dir() and suffix.isdigit():
                found.append((int(suffix), LevelDir(child)))
        return found


@dataclass(frozen=True)
class ExperimentDir:
    path: Path

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    def trial(self, trial: int) -> TrialDir:
        return TrialDir(self.path / f"trial_{trial}")

    def trials(self) -> list[tuple[int, TrialDir]]:
        found = []
        for child in sorted(self.path.glob("trial_*")):
            suffix = child.name.removeprefix("trial_")
            if child.is_dir() and suffix.isdigit():
                found.append((int(suffix), TrialDir(child)))
        return sorted(found)

    def config(self) -> ExperimentConfig:
        try:
            raw = yaml.safe_load(self.config_file.read_text(encoding="utf-8"))
            config = config_from_dict(raw["config"])
        except UserError as error:  # a stored value the validation refuses
            raise damaged(self.config_file, error, NEWER_CONFIG) from None
        except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
            raise damaged(self.config_file, error) from None
        check_identity(self, raw, config)
        return config

    def move_aside(self, trial: int) -> Path | None:
        """Move a trial's results under `.replaced/<time>/` (used by --force; nothing deleted)."""
        source = self.trial(trial).path
        if not source.exists():
            return None
        target = self.path / ".replaced" / time.strftime("%Y%m%d-%H%M%S") / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return target


def experiment_dir(output: str | Path, config: ExperimentConfig) -> ExperimentDir:
    """The run's directory: its name, or the name it had before names spelled out the pruning
    choices, when a run was made under that one (so that it resumes where it is)."""
    path, legacy = Path(output) / config.name(), Path(output) / config.legacy_name()
    if legacy != path and not path.exists() and (legacy / "config.yaml").is_file():
        return ExperimentDir(legacy)
    return ExperimentDir(path)


def write_config(exp: ExperimentDir, config: ExperimentConfig) -> None:
    """Write config.yaml once; an existing one must describe the same experiment."""
    if exp.config_file.exists():
        stored = exp.config()
        if stored.hash() != config.hash():
            raise UserError(
                f"{exp.path} holds a different experiment (hash {stored.hash()}): "
                "choose another --output"
            )
        return
    doc = {
        "name": config.name(),
        "hash": config.hash(),
        "version": __version__,
        "config": config.to_dict(),
    }
    atomic_write_text(exp.config_file, yaml.safe_dump(doc, sort_keys=False))


def verify_trial(trial: TrialDir) -> None:
    """Read back every file of a trial that resuming it would read (tensors, metrics, markers);
    raises DamagedFile naming the first that cannot be, before any work starts."""
    if trial.rewind.exists():
        load_tensors(trial.rewind)
    for _, level in trial.levels():
        for path in (level.masks, level.init, level.final, level.checkpoint):
            if path.exists():
                load_tensors(path)
        if level.checkpoint.exists():
            load_tensor_metadata(level.checkpoint)
        if level.info.exists():
            read_level_info(level.info)
        if level.done.exists():
            read_json(level.done)
        if level.metrics.exists():
            read_metrics(level.metrics)


def find_experiments(root: str | Path, _seen: set[str] | None = None) -> Iterator[ExperimentDir]:
    """Every experiment directory at or below `root` (hidden directories are skipped), each
    once: symbolic links are followed, but never into a directory already visited (a link
    loop, or a second path to one experiment)."""
    root = Path(root)
    seen = set() if _seen is None else _seen
    real = os.path.realpath(root)  # never raises, even on a link loop
    if real in seen:
        return
    seen.add(real)
    if (root / CONFIG_FILE).is_file():
        yield ExperimentDir(root)
        return
    if not root.is_dir():
        return
    for child in sorted(root.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            yield from find_experiments(child, seen)


def experiments_under(roots: str | Path | Sequence[str | Path]) -> Iterator[ExperimentDir]:
    """Every experiment at or below any of `roots`, each once however many of them reach it
    (`results DIR DIR/exp` reads the experiment once)."""
    seen: set[str] = set()
    for root in [roots] if isinstance(roots, (str, Path)) else roots:
        yield from find_experiments(root, seen)


# ---- what is read back must be what was written: identity, shapes, rows ------------------
def _stored_hash(exp: ExperimentDir, raw: dict[str, Any]) -> str | None:
    """The hash the experiment was created under: its directory name's suffix (what every
    run of it is filed under), else the `hash` written beside the config."""
    suffix = exp.path.name.rsplit("-", 1)[-1]
    if len(suffix) == 10 and all(c in "0123456789abcdef" for c in suffix):
        return suffix
    stored = raw.get("hash")
    return str(stored) if stored is not None else None


def check_identity(exp: ExperimentDir, raw: dict[str, Any], config: ExperimentConfig) -> None:
    """A config.yaml edited by hand (another criterion, another eps) would file the results of
    one experiment under another's name: its settings must still give the directory's hash."""
    stored = _stored_hash(exp, raw)
    if stored is not None and config.hash() != stored:
        raise damaged(
            exp.config_file,
            f"its settings give hash {config.hash()}, not {stored} as the experiment was "
            "created with: edited by hand?",
        )


def load_state_file(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """A saved whole state (init, final, rewind) that fits `model` in every name and shape; a
    file of another model, or with a tensor replaced, is named as damaged (loading it would
    fail with a traceback, or broadcast a wrong-shaped tensor without a word)."""
    values = load_tensors(path)
    problem = state_mismatch(model, values)
    if problem is not None:
        raise damaged(path, f"does not fit the model: {problem}")
    return values


def load_masks_file(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """Saved masks that fit `model`'s prunable weights in every name and shape."""
    masks = load_tensors(path)
    problem = masks_mismatch(model, masks)
    if problem is not None:
        raise damaged(path, f"does not fit the model: {problem}")
    return masks


CHECKPOINT_MODEL = "model/"  # prefix of the model's state in checkpoint.safetensors


def verify_trial_states(trial: TrialDir, model: nn.Module) -> None:
    """Every state and mask file of a trial fits `model` (the experiment's network), checked
    before a resume starts, so that a file of another model is named, not a traceback later."""
    if trial.rewind.exists():
        load_state_file(trial.rewind, model)
    for _, level in trial.levels():
        for path in (level.init, level.final):
            if path.exists():
                load_state_file(path, model)
        if level.masks.exists():
            load_masks_file(level.masks, model)
        if level.checkpoint.exists():
            own = model.state_dict()
            saved = {
                k.removeprefix(CHECKPOINT_MODEL): v
                for k, v in load_tensors(level.checkpoint).items()
                if k.startswith(CHECKPOINT_MODEL)
            }  # older checkpoints also hold the masks as `<layer>.mask` buffers: not state
            saved = {k: v for k, v in saved.items() if k in own or not k.endswith(".mask")}
            problem = state_mismatch(model, saved)
            if problem is not None:
                raise damaged(level.checkpoint, f"does not fit the model: {problem}")


def read_level_metrics(level: LevelDir) -> list[dict[str, Any]]:
    """A level's metrics rows; a finished level always has some (its evaluations at iteration 0
    and at the end), so a finished level without any is named as damaged instead of being
    dropped from `results` and `report` without a word."""
    rows = read_metrics(level.metrics) if level.metrics.is_file() else []
    if not rows and level.is_done():
        reason = "no rows, though the level finished" if level.metrics.is_file() else "missing"
        raise damaged(level.metrics, reason)
    return rows


# ---- what a trial has done --------------------------------------------------------------
def is_complete(exp: ExperimentDir, config: ExperimentConfig, trial: int) -> bool:
    """Whether every level of `trial` is finished."""
    trial_dir = exp.trial(trial)
    return all(trial_dir.level(k).is_done() for k in range(num_levels(config)))


def iterations_done(exp: ExperimentDir, config: ExperimentConfig, trial: int) -> int:
    """Training iterations of `trial` already on disk (finished levels + the last evaluation),
    read from small files only so that it can be polled while the trial runs."""
    done = 0
    steps = level_steps(config)
    for level in range(num_levels(config)):
        level_dir = exp.trial(trial).level(level)
        if level_dir.is_done():
            done += steps
        elif level_dir.metrics.is_file():
            try:
                lines = level_dir.metrics.read_text().strip().splitlines()
                last = int(lines[-1].split(",", 1)[0]) if len(lines) > 1 else 0
            except (OSError, ValueError, IndexError):
                last = 0  # being replaced right now: the next poll will see it
            done += min(steps, last)
    return done
