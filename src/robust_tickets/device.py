"""Where a run computes: the device a `--device` name means, and the CPU cores this process may
use. Low in the layers so that evaluation and sweeps need not import the training engine, and
free of torch at import: `run` counts cores to start its workers before it imports torch."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from robust_tickets.errors import UserError

if TYPE_CHECKING:
    import torch


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_device(name: str) -> torch.device:
    """The torch device for `name` (cpu, cuda, cuda:N or auto); a UserError if there is none."""
    import torch  # here, not at the top: see the module's docstring

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            "--device cuda was asked for but no CUDA GPU is available: use --device cpu"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}: use cpu, cuda, cuda:N or auto") from None
