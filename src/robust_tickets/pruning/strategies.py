"""What happens to the surviving weights after each pruning step.

A strategy returns the state (every parameter and buffer) a new level starts from, given the
trained state of the previous level and the states it may go back to. Masks are applied to the
prunable weights afterwards by the runner.

The states are whole: batch norm's affine parameters and running statistics go back with the
weights (a reset restores the initial ones, a rewind the ones at the rewind iteration, as
open_lth's lottery runner loads the whole checkpoint of the rewind step), and `fresh` rebuilds
batch norm as new (`models.registry.reinitialise`). See docs/models.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from robust_tickets.registry import Registry


@dataclass(frozen=True)
class LevelStart:
    """What a strategy may look at when choosing a new level's starting weights."""

    trained: dict[str, torch.Tensor]  # the state at the end of the previous level
    original: dict[str, torch.Tensor]  # the initialisation of level 0
    rewind: dict[str, torch.Tensor] | None  # level-0 state at iteration `rewind_iter`
    fresh: Callable[[], dict[str, torch.Tensor]]  # a new random init (seeded per level)
    dense_trained: Callable[[], dict[str, torch.Tensor]]  # level 0's state at its end


@dataclass(frozen=True)
class Strategy:
    choose: Callable[[LevelStart], dict[str, torch.Tensor]]
    prunes: bool = True  # False: the dense baseline, a single level
    needs_rewind: bool = False
    uses: tuple[str, ...] = ()  # config fields of its own (`rewind_iter`)


STRATEGIES: Registry[Strategy] = Registry("strategy")

# The lottery-ticket reset the paper's text describes: survivors go back to their initial values.
STRATEGIES.register("reset")(Strategy(lambda s: s.original))
# What the original code's `reinit_orig` does: its `train_once` returns the kernels *after*
# training, so every pruned level restarts from the dense network's trained weights (masked),
# while each new mask comes from the previous level's trained weights.
STRATEGIES.register("rewind_trained", aliases=("reinit_orig",))(
    Strategy(lambda s: s.dense_trained())
)
STRATEGIES.register("random", aliases=("reinit_rand",))(Strategy(lambda s: s.fresh()))
STRATEGIES.register("continue", aliases=("reinit_none",))(Strategy(lambda s: s.trained))
STRATEGIES.register("rewind", aliases=("late_reset",))(
    Strategy(lambda s: s.rewind, needs_rewind=True, uses=("rewind_iter",))  # type: ignore[arg-type, return-value]
)
STRATEGIES.register("dense", aliases=("no_pruning",))(Strategy(lambda s: s.trained, prunes=False))
