"""How many levels a trial has, which batches each trains on and when it is evaluated (the
`train_loop` setting).

Two loops, both pure functions of (config, training-set size), so that a resumed level draws
exactly the batches and evaluation points an uninterrupted one would, and so that reports can
tell a level's length without opening its files:

- ``steps`` (the default): `train_iters` steps; an epoch is floor(n / batch) full batches of a
  fresh permutation; evaluation before training, every `eval_every` steps and at the end. The
  label of an evaluation is its step.
- ``keras``: what the original code's Keras ``fit`` did. It trains
  int(train_iters / n * batch) epochs of ceil(n / batch) batches, the last one short
  (n mod batch images); its callback evaluates after every batch whose index *within the epoch*
  is a multiple of `eval_every`, and labels the k-th evaluation k * eval_every. With the
  paper's n = 50,000, batch 60 and eval_every 500 an epoch is 834 batches, evaluations fall
  after steps 1, 501, 835, 1335, ..., the label 30,000 (the paper's tables) is step 25,021 and
  a level is 60 epochs = 50,040 steps. There is no evaluation before training (the original
  had none); one more evaluation after the last step (unlabelled: the original printed it
  without logging it) is what reports read as the level's end.

`train_epochs` (0: off) sets a level's length in epochs instead: `train_iters` becomes
ceil(train_epochs * n / batch) steps (`epoch_steps`), for whichever loop; learning-rate schedules
follow a level's steps, so they follow its epochs too.

`stop_step` (0: off) ends every level of either loop after that many steps, its last
evaluation there (labelled as the loop labels that step): the PGD-adversarial replication stops
at step 25,021, the evaluation the paper's tables read, and takes its masks from there.

`eval_until` (0: off) keeps the loop's evaluations up to that many steps and drops the later
ones but the level's last: training is unchanged (evaluations draw from their own generator),
labels too (they come from the step), and a full paper level read at step 25,021 saves half its
evaluations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from robust_tickets.config import ExperimentConfig
from robust_tickets.data.registry import DATASETS
from robust_tickets.pruning.strategies import STRATEGIES

TRAIN_LOOPS = ("steps", "keras")


@dataclass(frozen=True)
class LevelSchedule:
    """The batches and evaluation points of one level of `n` training images."""

    loop: str
    n: int
    batch_size: int
    train_iters: int
    eval_every: int
    stop_step: int = 0
    eval_until: int = 0

    def __post_init__(self) -> None:
        if self.loop not in TRAIN_LOOPS:
            raise ValueError(f"unknown train_loop {self.loop!r}")

    @property
    def per_epoch(self) -> int:
        """Batches per epoch."""
        if self.loop == "keras":
            return math.ceil(self.n / self.batch_size)
        return self.n // self.batch_size

    @property
    def epochs(self) -> int:
        """Whole epochs (keras); the steps loop may end inside one."""
        if self.loop == "keras":
            return int(self.train_iters / self.n * self.batch_size)
        return math.ceil(self.train_iters / self.per_epoch)

    @property
    def total(self) -> int:
        """Training steps in the level."""
        full = self.epochs * self.per_epoch if self.loop == "keras" else self.train_iters
        return min(full, self.stop_step) if self.stop_step else full

    @property
    def evaluates_at_start(self) -> bool:
        return self.loop == "steps"

    @property
    def evaluations(self) -> int:
        """Evaluations in a level."""
        if self.loop == "keras" and self.total == 0:
            return 0
        upto = min(self.total, self.eval_until) if self.eval_until else self.total
        if self.loop == "keras":  # the callback's points up to `upto`
            epochs, rest = divmod(upto, self.per_epoch)
            points = epochs * math.ceil(self.per_epoch / self.eval_every)
            points += math.ceil(rest / self.eval_every)
        else:  # before training, then every eval_every steps
            points = 1 + upto // self.eval_every
        end_is_one = upto == self.total and self._periodic(self.total)
        return points + (0 if end_is_one else 1)

    def saves_after(self, done: int) -> bool:
        """Whether a checkpoint is written once `done` steps have been taken: at the loop's
        evaluation points, those that `eval_until` drops included (a resumed level then loses
        no more than without it)."""
        return done == self.total or self._periodic(done)

    def _periodic(self, done: int) -> bool:
        """Whether `done` steps is one of the loop's regular evaluation points."""
        if self.loop == "keras":
            return done >= 1 and (done - 1) % self.per_epoch % self.eval_every == 0
        return done % self.eval_every == 0

    def batch(self, step: int) -> tuple[int, int, int]:
        """(epoch, first, end) positions in that epoch's permutation of batch `step` (0-based)."""
        epoch, k = divmod(step, self.per_epoch)
        first = k * self.batch_size
        return epoch, first, min(first + self.batch_size, self.n)

    def evaluates_after(self, done: int) -> bool:
        """Whether the loop evaluates once `done` steps have been taken."""
        if done == self.total:
            return True
        if self.eval_until and done > self.eval_until:
            return False
        return self._periodic(done)

    def label(self, done: int) -> int | None:
        """The label of the evaluation after `done` steps (None: the keras loop's final one,
        which the original never labelled)."""
        if self.loop == "steps":
            return done
        if done < 1:
            return None
        epoch, k = divmod(done - 1, self.per_epoch)
        if k % self.eval_every:
            return None
        per_epoch_evals = math.ceil(self.per_epoch / self.eval_every)
        return self.eval_every * (epoch * per_epoch_evals + k // self.eval_every)

    def step_of_label(self, label: int) -> int | None:
        """The step (steps taken) whose evaluation carries `label`, or None if none does."""
        if self.loop == "steps":
            return label if 0 <= label <= self.total else None
        if label < 0 or label % self.eval_every:
            return None
        count = label // self.eval_every
        per_epoch_evals = math.ceil(self.per_epoch / self.eval_every)
        epoch, j = divmod(count, per_epoch_evals)
        done = epoch * self.per_epoch + j * self.eval_every + 1
        return done if done <= self.total else None


def train_size(config: ExperimentConfig) -> int:
    """Training images of the config's dataset after the validation split."""
    return DATASETS.get(config.data.dataset).counts()[0] - config.data.valid_size


def epoch_steps(epochs: float, n: int, batch_size: int) -> int:
    """Steps that show `epochs` times `n` training images in batches of `batch_size`."""
    return math.ceil(epochs * n / batch_size)


def level_schedule(config: ExperimentConfig, n: int | None = None) -> LevelSchedule:
    """The schedule of every level of `config` (n: training images; default from the dataset)."""
    t = config.train
    n = train_size(config) if n is None else n
    # in epochs, a level's steps follow the images it is given (a test's subset too)
    iters = epoch_steps(t.train_epochs, n, t.batch_size) if t.train_epochs else t.train_iters
    return LevelSchedule(
        loop=t.train_loop,
        n=n,
        batch_size=t.batch_size,
        train_iters=iters,
        eval_every=t.eval_every,
        stop_step=t.stop_step,
        eval_until=t.eval_until,
    )


def level_steps(config: ExperimentConfig) -> int:
    """Training steps per level (what reports compare a row's step with to find the end)."""
    return level_schedule(config).total


def num_levels(config: ExperimentConfig) -> int:
    """Levels in a trial of `config`: the dense one, then one per pruning step (if it prunes)."""
    return 1 + config.prune.prune_iters if STRATEGIES.get(config.prune.strategy).prunes else 1
