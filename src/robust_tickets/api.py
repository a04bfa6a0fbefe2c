"""The Python API: robust_tickets from a notebook or a script, in a few functions.

- `ticket_from_module(module)`: any `nn.Module` as a ticket (its prunable weights and
  all-ones masks), to inspect what pruning would act on.
- `run(config, output=...)`: run (or resume) an experiment, as `robust-tickets run` does.
- `load_ticket(run_dir, trial=0, level=None)`: a trained ticket as a plain `nn.Module`,
  masks applied, in eval mode.
- `export_ticket(run_dir, path, ...)`: write it as a plain state dict (`.pt` or
  `.safetensors`) that loads into the unpruned architecture without robust_tickets.
- `sparsity(masks)`: the fraction of weights removed, overall and per layer.

Each is re-exported by the package (`robust_tickets.load_ticket`), imported on first use so
that `import robust_tickets` stays light. docs/api.md has a worked example (run by the tests).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes
from torch import nn

from robust_tickets.config import ExperimentConfig
from robust_tickets.data import DATASETS, Splits
from robust_tickets.errors import UserError
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import create_model
from robust_tickets.models.ticket import apply_masks_, full_masks, layer_kinds, load_state
from robust_tickets.resolve import from_flat, validate
from robust_tickets.store import (
    CONFIG_FILE,
    ExperimentDir,
    LevelDir,
    atomic_write_bytes,
    load_masks_file,
    load_state_file,
)

__all__ = [
    "Ticket",
    "export_ticket",
    "find_level",
    "load_ticket",
    "run",
    "sparsity",
    "ticket_from_module",
]


@dataclass
class Ticket:
    """A module and its masks, one per prunable weight (keyed by parameter name; 1 keeps a
    weight, 0 removes it). `kinds` says which is the output layer (`output`), a convolution
    (`conv`) or a fully connected layer (`fc`)."""

    module: nn.Module
    masks: dict[str, torch.Tensor]

    @property
    def kinds(self) -> dict[str, str]:
        return dict(layer_kinds(self.module))

    def apply(self) -> nn.Module:
        """Zero the removed weights in place; returns the module."""
        apply_masks_(self.module, self.masks)
        return self.module

    def sparsity(self) -> dict[str, float]:
        return sparsity(self.masks)


def ticket_from_module(module: nn.Module) -> Ticket:
    """`module` as a ticket: every `weight` of its `nn.Linear` and `nn.Conv*` layers is
    prunable (in registration order, the last one being the output layer), each with an
    all-ones mask (a subclass of `models.ticket.TicketModel` may choose otherwise)."""
    if not isinstance(module, nn.Module):
        raise UserError(f"ticket_from_module needs an nn.Module, not {type(module).__name__}")
    masks = full_masks(module)
    if not masks:
        raise UserError(
            f"{type(module).__name__} has no prunable layer (nn.Linear or nn.Conv*): "
            "a ticket needs at least one"
        )
    return Ticket(module, masks)


def sparsity(masks: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """The fraction of weights removed (0: dense), under ``"overall"`` and under each
    layer's parameter name."""
    out = {name: 1.0 - float(m.sum()) / m.numel() for name, m in masks.items()}
    total = sum(m.numel() for m in masks.values())
    kept = sum(float(m.sum()) for m in masks.values())
    return {"overall": 1.0 - kept / total if total else 0.0, **out}


def run(
    config: ExperimentConfig | Mapping[str, Any],
    output: str | Path = "results",
    *,
    trials: int = 1,
    splits: Splits | None = None,
    **options: Any,
) -> Path:
    """Run (or resume) an experiment and return its directory.

    `config` is an `ExperimentConfig` or a dict of the flat settings `robust-tickets run`
    takes as flags, underscores for dashes (``{"model": "dense-300-100", "train_iters":
    100}``); missing ones take their defaults. Other keyword arguments are `RunOptions`
    (``device="cuda"``, ``quiet=True``, ...); `splits` replaces the dataset (tests, toy data).
    """
    checked = config if isinstance(config, ExperimentConfig) else None
    config = validate(checked) if checked is not None else from_flat(dict(config))
    run_options = RunOptions(output=Path(output), trials=trials, **options)
    exp, _ = run_experiment(config, run_options, splits=splits)
    return exp.path


def find_level(path: str | Path, trial: int | None = None, level: int | None = None):
    """(experiment, trial, level directory) of a run directory or of one of its level
    directories (``.../trial_0/level_03``). For a run directory, `trial` defaults to 0 and
    `level` to the trial's last finished level."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist: give a run directory or a level directory")
    if (path / CONFIG_FILE).is_file():
        exp, trial = ExperimentDir(path), 0 if trial is None else trial
        trial_dir = exp.trial(trial)
        finished = [k for k, d in trial_dir.levels() if d.is_done()]
        if not finished:
            raise UserError(f"{trial_dir.path} has no finished level: run it first")
        if level is None:
            level = finished[-1]
        if level not in finished:
            raise UserError(
                f"level {level} of {trial_dir.path} is not finished: choose one of "
                f"{', '.join(map(str, finished))}"
            )
        return exp, trial, trial_dir.level(level)
    name, parent = path.name, path.resolve().parent
    if not (
        name.startswith("level_")
        and parent.name.startswith("trial_")
        and (parent.parent / CONFIG_FILE).is_file()
    ):
        raise UserError(
            f"{path} is neither a run directory (with {CONFIG_FILE}) nor a level directory "
            "(RUN/trial_T/level_LL)"
        )
    found_trial, found_level = int(parent.name[6:]), int(name[6:])
    if trial not in (None, found_trial) or level not in (None, found_level):
        raise UserError(f"{path} is trial {found_trial} level {found_level}: drop --trial/--level")
    level_dir = LevelDir(path)
    if not level_dir.is_done():
        raise UserError(f"{path} is not finished: wait for it, or choose a finished level")
    return ExperimentDir(parent.parent), found_trial, level_dir


def _ticket(exp: ExperimentDir, level_dir: LevelDir) -> Ticket:
    config = exp.config()
    spec = DATASETS.get(config.data.dataset)
    model = create_model(config.model.model, spec.input_shape(), spec.num_classes, seed=0)
    load_state(model, load_state_file(level_dir.final, model))
    masks = load_masks_file(level_dir.masks, model)
    apply_masks_(model, masks)
    return Ticket(model.eval(), masks)


def load_ticket(
    run_dir: str | Path, trial: int | None = None, level: int | None = None
) -> nn.Module:
    """The trained network of one finished level as a plain module: its final weights with the
    removed ones zero, in eval mode. `trial` defaults to 0 and `level` to its last finished
    level; `run_dir` may also be a level directory (``RUN/trial_0/level_02``)."""
    exp, _, level_dir = find_level(run_dir, trial, level)
    return _ticket(exp, level_dir).module


def plain_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """`module`'s state dict as plain CPU tensors (no shared storage, nothing of ours)."""
    return {k: v.detach().cpu().clone().contiguous() for k, v in module.state_dict().items()}


def export_ticket(
    run_dir: str | Path,
    path: str | Path,
    trial: int | None = None,
    level: int | None = None,
) -> dict[str, float]:
    """Write a finished level's ticket to `path` (``.pt``: `torch.save` of a dict of tensors;
    ``.safetensors``) as the plain state dict of its architecture, removed weights zero: it
    loads with ``load_state_dict(strict=True)`` into the unpruned network. Returns its
    `sparsity`."""
    path = Path(path)
    if path.suffix not in (".pt", ".pth", ".safetensors"):
        raise UserError(f"{path}: write a .pt or .safetensors file")
    exp, _, level_dir = find_level(run_dir, trial, level)
    ticket = _ticket(exp, level_dir)
    state = plain_state(ticket.module)
    if path.suffix == ".safetensors":
        data = safetensors_bytes(state)
    else:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return ticket.sparsity()
