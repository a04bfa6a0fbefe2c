"""Resumable training state of one level in one safetensors file (no pickle)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robust_tickets.store import damaged, load_tensor_metadata, load_tensors, save_tensors


@dataclass
class LevelState:
    iteration: int  # training steps completed; the evaluation at this iteration is in `rows`
    rows: list[dict[str, Any]]
    # what callbacks keep across a resume, saved in the same atomic checkpoint as the weights
    # they belong with: JSON-able values by callback, and tensors (e.g. the best weights so far)
    extras: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    stop: bool = False  # a callback ends the level after this step (not saved: it ends now)


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: Any,
    generator: torch.Generator,
    state: LevelState,
) -> None:
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    for index, slots in optimizer.state_dict()["state"].items():
        for key, value in slots.items():
            if value is None:  # e.g. SGD without momentum keeps no buffer
                continue
            tensors[f"optim/{index}/{key}"] = torch.as_tensor(value)
    tensors["generator"] = generator.get_state()
    tensors.update({f"extra/{k}": v for k, v in state.tensors.items()})
    meta = {"iteration": str(state.iteration), "rows": json.dumps(state.rows)}
    if state.extras:
        meta["extras"] = json.dumps(state.extras)
    save_tensors(path, tensors, meta)


def load_checkpoint(
    path: Path, model: nn.Module, optimizer: Any, generator: torch.Generator
) -> LevelState:
    try:
        return _load_checkpoint(path, model, optimizer, generator)
    except (KeyError, RuntimeError, ValueError, TypeError) as error:  # wrong contents
        raise damaged(path, error) from None


def _load_checkpoint(
    path: Path, model: nn.Module, optimizer: Any, generator: torch.Generator
) -> LevelState:
    tensors = load_tensors(path)
    meta = load_tensor_metadata(path)
    device = next(model.parameters()).device
    own = model.state_dict()
    saved = {k.removeprefix("model/"): v for k, v in tensors.items() if k.startswith("model/")}
    # Checkpoints from before masks lived beside the model hold them as `<layer>.mask`
    # buffers; the level's masks are in its masks.safetensors.
    saved = {k: v for k, v in saved.items() if k in own or not k.endswith(".mask")}
    model.load_state_dict({k: v.to(device) for k, v in saved.items()})
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, slot = key.split("/")
            state.setdefault(int(index), {})[slot] = value
    full = optimizer.state_dict()
    full["state"] = state
    optimizer.load_state_dict(full)
    generator.set_state(tensors["generator"])
    return LevelState(
        iteration=int(meta["iteration"]),
        rows=json.loads(meta["rows"]),
        extras=json.loads(meta.get("extras", "{}")),
        tensors={k.removeprefix("extra/"): v for k, v in tensors.items() if k.startswith("extra/")},
    )
