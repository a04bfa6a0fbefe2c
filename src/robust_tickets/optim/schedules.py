"""Learning-rate schedules over the steps of a level, each with a linear warm-up (`warmup`).

- `constant` (the default): the run's learning rate at every step.
- `piecewise`: multiplied by `gamma` at each milestone, given as fractions of the level's
  steps (``0.5,0.75``) or as step counts (``1000,1500``).
- `cosine`: a half cosine from the learning rate down to `cosine_floor` times it at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from robust_tickets.components import Params, setting
from robust_tickets.optim.base import SCHEDULES, Schedule

WARMUP_HELP = "linear warm-up over the first N steps of every level (0: none)"


@SCHEDULES.add
class Constant(Schedule):
    name = "constant"

    @dataclass(frozen=True)
    class Params(Params):
        warmup: int = setting(0, WARMUP_HELP, flat="warmup")

        def validate(self) -> None:
            self.require(self.warmup >= 0, "warmup", "must be >= 0")

    def after_warmup(self, step: int, total: int) -> float:
        return 1.0

    @property
    def constant(self) -> bool:
        return self.params.warmup == 0


def milestone_steps(text: str, total: int) -> list[int]:
    """The steps at which the rate drops: fractions in (0, 1) of `total`, or step counts."""
    values = [float(v) for v in text.split(",") if v.strip()]
    if all(0 < v < 1 for v in values):
        return [round(v * total) for v in values]
    return [int(v) for v in values]


@SCHEDULES.add
class Piecewise(Schedule):
    name = "piecewise"

    @dataclass(frozen=True)
    class Params(Params):
        warmup: int = setting(0, WARMUP_HELP, flat="warmup")
        milestones: str = setting(
            "0.5,0.75",
            "comma-separated steps where the rate is multiplied by the gamma: all fractions "
            "of the level's steps in (0, 1), or all whole step counts",
            flat="milestones",
        )
        gamma: float = setting(0.1, "factor applied at each milestone", flat="gamma")

        def validate(self) -> None:
            self.require(self.warmup >= 0, "warmup", "must be >= 0")
            self.require(self.gamma > 0, "gamma", "must be positive")
            try:
                values = [float(v) for v in self.milestones.split(",") if v.strip()]
            except ValueError:
                values = []
            fractions = values and all(0 < v < 1 for v in values)
            counts = values and all(v >= 1 and v.is_integer() for v in values)
            ordered = values == sorted(values)
            self.require(
                bool(fractions or counts) and ordered,
                "milestones",
                "must be increasing fractions in (0, 1) or whole step counts, e.g. 0.5,0.75",
            )

    def after_warmup(self, step: int, total: int) -> float:
        drops = sum(step >= m for m in milestone_steps(self.params.milestones, total))
        return self.params.gamma**drops


@SCHEDULES.add
class Cosine(Schedule):
    name = "cosine"

    @dataclass(frozen=True)
    class Params(Params):
        warmup: int = setting(0, WARMUP_HELP, flat="warmup")
        floor: float = setting(0.0, "the rate at the last step, as a fraction of the rate")

        def validate(self) -> None:
            self.require(self.warmup >= 0, "warmup", "must be >= 0")
            self.require(0 <= self.floor <= 1, "floor", "must be in [0, 1]")

    def after_warmup(self, step: int, total: int) -> float:
        # after the warm-up the half cosine runs from 1 to the floor at step total - 1
        start, floor = min(self.params.warmup, total - 1), self.params.floor
        span = max(total - 1 - start, 1)
        t = min(max(step - start, 0), span) / span
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
