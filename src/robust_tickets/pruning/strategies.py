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
from typing import ClassVar

import torch

from robust_tickets.components import Component, ComponentRegistry, Params, setting
from robust_tickets.config import ExperimentConfig


@dataclass(frozen=True)
class LevelStart:
    """What a strategy may look at when choosing a new level's starting weights."""

    # the state at the end of the previous level, with what the criterion adapted beside the
    # masks (`PruneContext.adapted`: HYDRA's batch norm under `hydra_train_bn`)
    trained: dict[str, torch.Tensor]
    original: dict[str, torch.Tensor]  # the initialisation of level 0
    rewind: dict[str, torch.Tensor] | None  # level-0 state at iteration `rewind_iter`
    fresh: Callable[[], dict[str, torch.Tensor]]  # a new random init (seeded per level)
    dense_trained: Callable[[], dict[str, torch.Tensor]]  # level 0's state at its end


class Strategy(Component):
    """What the survivors of a level start from."""

    prunes: ClassVar[bool] = True  # False: the dense baseline, a single level
    needs_rewind: ClassVar[bool] = False  # reads `LevelStart.rewind` (saved during level 0)

    def choose(self, start: LevelStart) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def rewind_step(self) -> int | None:
        """The step of level 0 whose whole state this strategy has saved for the later levels
        (`rewind.safetensors`), or None. Saving it changes nothing in level 0's training, but a
        level 0 borrowed from a sibling run must come with the same snapshot."""
        return None


STRATEGIES: ComponentRegistry[Strategy] = ComponentRegistry("strategy")


@STRATEGIES.add
class Reset(Strategy):
    """The lottery-ticket reset the paper's text describes: survivors go back to their initial
    values."""

    name = "reset"
    after_level0 = True  # chooses pruned levels' starts only

    def choose(self, start: LevelStart) -> dict[str, torch.Tensor]:
        return start.original


@STRATEGIES.add
class RewindTrained(Strategy):
    """What the original code's `reinit_orig` does: its `train_once` returns the kernels *after*
    training, so every pruned level restarts from the dense network's trained weights (masked),
    while each new mask comes from the previous level's trained weights."""

    name = "rewind_trained"
    aliases = ("reinit_orig",)
    after_level0 = True  # chooses pruned levels' starts only

    def choose(self, start: LevelStart) -> dict[str, torch.Tensor]:
        return start.dense_trained()


@STRATEGIES.add
class Random(Strategy):
    name = "random"
    aliases = ("reinit_rand",)
    after_level0 = True  # chooses pruned levels' starts only

    def choose(self, start: LevelStart) -> dict[str, torch.Tensor]:
        return start.fresh()


@STRATEGIES.add
class Continue(Strategy):
    name = "continue"
    aliases = ("reinit_none",)
    after_level0 = True  # chooses pruned levels' starts only

    def choose(self, start: LevelStart) -> dict[str, torch.Tensor]:
        return start.trained


@STRATEGIES.add
class Rewind(Strategy):
    """Survivors go back to their values at iteration `iter` of level 0 (late resetting)."""

    name = "rewind"
    aliases = ("late_reset",)
    after_level0 = True  # level 0 only saves its snapshot (`rewind_step`): training unchanged
    needs_rewind = True

    @dataclass(frozen=True)
    class Params(Params):
        iter: int = setting(0, "survivors go back to their values at iteration K of level 0")

        def validate(self) -> None:
            self.require(self.iter >= 0, "iter", "must be in [0, train_iters]")

    def check(self, config: ExperimentConfig) -> None:
        if self.params.iter > config.train.train_iters:
            self.params.require(False, "iter", "must be in [0, train_iters]")
        stop = config.train.stop_step
        if stop and self.params.iter > stop:  # level 0 would end before saving its snapshot
            self.params.require(False, "iter", f"must be at most stop_step ({stop})")

    def rewind_step(self) -> int | None:
        return self.params.iter

    def choose(self, start: LevelStart) -> dict[str, torch.Tensor]:
        assert start.rewind is not None, "level 0 saves the rewind point"
        return start.rewind


@STRATEGIES.add
class Dense(Strategy):
    """No pruning: the dense baseline, one level."""

    name = "dense"
    aliases = ("no_pruning",)
    after_level0 = True  # its one level trains as every strategy's level 0 does
    prunes = False

    def choose(self, start: LevelStart) -> dict[str, torch.Tensor]:
        return start.trained
