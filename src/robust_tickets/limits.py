"""Bounds on the numbers users give: finite, in range, and small enough that nothing they size
(memory, processes, files) can take the machine down. Each failure is a one-line UserError."""

from __future__ import annotations

import math

from robust_tickets.errors import UserError

# Far beyond any sensible experiment (the paper: 50,000 iterations, 20 levels, batch 60, 10
# PGD steps), yet small enough that what they size stays bounded.
MAX_TRAIN_ITERS = 100_000_000
MAX_PRUNE_ITERS = 1_000
MAX_BATCH = 1_000_000
MAX_STEPS = 100_000
MAX_EXAMPLES = 100_000_000
MAX_TRIALS = 10_000
MAX_PROCESSES = 1_024  # --jobs, --threads
MAX_QUERIES = 10_000_000
# A criterion's own pass over training batches before each pruning step (--snip-batches,
# --hydra-iters; HYDRA's published runs take ~20 epochs, a few thousand batches): unbounded,
# a typo of a few digits would run every level until killed.
MAX_CRITERION_STEPS = 1_000_000


def finite(name: str, value: float, hint: str = "") -> float:
    """`value` itself, or a UserError if it is NaN or infinite."""
    if not math.isfinite(value):
        raise UserError(f"{name} must be a finite number, got {value!r}{hint}")
    return value


def count(name: str, value: int, low: int, high: int, hint: str = "") -> int:
    """`value` itself, or a UserError if it is outside [low, high]."""
    if value < low:
        raise UserError(f"{name} must be at least {low:,}, got {value:,}{hint}")
    if value > high:
        raise UserError(f"{name} must be at most {high:,}, got {value:,}{hint}")
    return value


def in_unit(name: str, value: float, hint: str = "") -> float:
    """A finite number in [0, 1] (an L-inf radius on images in [0, 1])."""
    finite(name, value, hint)
    if not 0 <= value <= 1:
        raise UserError(f"{name} must be in [0, 1] (images are in [0, 1]), got {value:g}{hint}")
    return value
