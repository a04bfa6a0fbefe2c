"""Progress reporting for long runs: a tqdm bar, or nothing when quiet.

A run's bar counts training iterations, but each level also evaluates its network on the whole
validation and test sets (with the attack) at iteration 0, every `eval_every` iterations and at
the end; in a short run these evaluations are most of the time (LeNet-5, 2 levels x 50
iterations: 83 s, nearly all evaluation, opened with an ETA of 22 minutes). With a `Work` model
the bar counts estimated work instead, each evaluation weighed in training iterations, so that
its ETA covers both.
"""

from __future__ import annotations

import bisect
import sys
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

PERCENT_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"


@dataclass(frozen=True)
class Work:
    """The work of one level in training steps: `steps` steps plus an evaluation (worth
    `eval_cost` steps) after each step in `points` (0: before training), as the level's
    schedule (`robust_tickets.schedule`) evaluates."""

    steps: int
    points: tuple[int, ...]  # sorted
    eval_cost: float

    @classmethod
    def of(cls, schedule: Any, eval_cost: float) -> Work:
        """The work of a level run by `schedule` (a `schedule.LevelSchedule`)."""
        start = (0,) if schedule.evaluates_at_start else ()
        after = (d for d in range(1, schedule.total + 1) if schedule.evaluates_after(d))
        return cls(schedule.total, (*start, *after), eval_cost)

    def evaluations(self, below: int) -> int:
        """Evaluations at points before step `below`."""
        return bisect.bisect_left(self.points, below)

    def level(self) -> float:
        """The whole of one level."""
        return self.steps + self.eval_cost * len(self.points)

    def sequential(self, iterations: int) -> float:
        """Work done once `iterations` steps of consecutive levels are done, as a trial runs
        them: an evaluation counts once the step after it has begun (a level's last one once
        the next level starts; `Progress.close` fills in the very last)."""
        if iterations <= 0:
            return 0.0
        full, rest = divmod(iterations, self.steps)
        if rest == 0:  # the level just ended: its final evaluation is still running
            full, rest = full - 1, self.steps
        return full * self.level() + rest + self.eval_cost * self.evaluations(rest)

    def on_disk(self, iterations: int) -> float:
        """Work done when a trial's files show `iterations` steps (`store.iterations_done`:
        finished levels plus the last evaluation written, which is therefore done)."""
        full, rest = divmod(max(0, iterations), self.steps)
        if rest == 0:  # the next level's first evaluation is not on disk yet
            return full * self.level()
        return full * self.level() + rest + self.eval_cost * self.evaluations(rest + 1)


def eval_cost(
    batch_size: int, eval_examples: int, adversarial_training: bool, attack_steps: int
) -> float:
    """One evaluation in training iterations, from gradient passes per example: a training
    step costs the attack's steps plus the two halves of the loss (adversarial training) or
    one pass (natural); an evaluation the attack's steps plus a forward pass (about a third
    of a gradient pass) on every validation and test example, whatever the training."""
    steps = max(1, attack_steps)
    train = batch_size * (steps + 2 if adversarial_training else 1)
    return eval_examples * (steps + 1 / 3) / max(1, train)


class Progress:
    """Counts training iterations over a whole run (weighed by `work` when given) and shows the
    latest evaluation."""

    def __init__(
        self,
        total: float,
        *,
        quiet: bool = False,
        desc: str = "training",
        unit: str = "it",
        work: Work | None = None,
    ) -> None:
        self.work, self.iterations = work, 0
        # a bar counting estimated work (not whole items) shows percent and times, not counts
        counts = unit == "it" and work is None
        self.bar = (
            None
            if quiet
            else tqdm(
                total=total,
                desc=desc,
                unit=unit,
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.5,
                smoothing=0.05,
                bar_format=None if counts else PERCENT_FORMAT,
            )
        )

    def advance(self, n: float = 1) -> None:
        """`n` more training iterations of the trial being run (with a `Work` model), else `n`
        more units of whatever the bar counts."""
        if self.work is not None:
            self.iterations += int(n)
            self.advance_work(self.work.sequential(self.iterations) - self.done())
            return
        self.advance_work(n)

    def advance_work(self, n: float) -> None:
        """`n` more units of work, as counted by the bar itself."""
        if self.bar is not None:
            if self.bar.total:  # float sums of estimated work may overshoot by a rounding
                n = min(n, self.bar.total - self.bar.n)
            if n > 0:
                self.bar.update(n)

    def done(self) -> float:
        return 0.0 if self.bar is None else float(self.bar.n)

    def show(self, **fields: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix(fields, refresh=False)

    def write(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)

    def close(self, finished: bool = True) -> None:
        """Close the bar; `finished`: the last evaluation, not counted by any step, is done."""
        if self.bar is not None:
            if finished and self.work is not None and self.bar.total:
                self.advance_work(self.bar.total - self.bar.n)
            self.bar.close()
