"""The level loop: training steps, with callbacks at the start and after every step.

Everything else a level does while it trains (evaluating, checkpointing, the rewind snapshot,
progress) is a callback (see callbacks.py), as in open_lth's training loop, so that a new
side job is a new callback rather than another branch in the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from robust_tickets.training.checkpoint import LevelState


class Callback:
    """What runs beside the training steps; every hook does nothing unless overridden."""

    def on_start(self, state: LevelState, resumed: bool) -> None:
        """Before the first step of this session; `resumed`: `state` came from a checkpoint."""

    def after_step(self, state: LevelState) -> None:
        """After each step; `state.iteration` counts the steps taken."""


def train_level(
    state: LevelState,
    total: int,
    step: Callable[[int], None],
    callbacks: Sequence[Callback],
    resumed: bool = False,
) -> None:
    """Take steps `state.iteration`, ..., `total - 1` (`step(i)` trains on batch i), running the
    callbacks, in order, at the start and after every step; a callback may end the level
    early (`state.stop`)."""
    for callback in callbacks:
        callback.on_start(state, resumed)
    while state.iteration < total and not state.stop:
        step(state.iteration)
        state.iteration += 1
        for callback in callbacks:
            callback.after_step(state)
