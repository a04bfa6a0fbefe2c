"""The level loop's standard callbacks. A trial runs them in this order after every step: progress,
rewind snapshot, the catastrophic-overfitting check (`co_check`), evaluation, checkpoint, shown
accuracies (see `TrialRunner.callbacks`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robust_tickets.engine.loop import Callback
from robust_tickets.models.ticket import load_state
from robust_tickets.models.ticket import state as model_state
from robust_tickets.optim import Schedule, set_lr
from robust_tickets.progress import Progress
from robust_tickets.schedule import LevelSchedule
from robust_tickets.store import LevelDir, save_tensors, write_metrics
from robust_tickets.training.checkpoint import LevelState, save_checkpoint

Rows = list[dict[str, Any]]


class LearningRate(Callback):
    """Sets the learning rate of the next step from the level's schedule: a function of the
    step alone, so a resumed level gets the rates an uninterrupted one would."""

    def __init__(self, optimizer: Any, lr: float, schedule: Schedule, total: int) -> None:
        self.optimizer, self.lr, self.schedule, self.total = optimizer, lr, schedule, total

    def on_start(self, state: LevelState, resumed: bool) -> None:
        self.after_step(state)

    def after_step(self, state: LevelState) -> None:
        if state.iteration < self.total:
            factor = self.schedule.factor(state.iteration, self.total)
            set_lr(self.optimizer, self.lr * factor)


class CountSteps(Callback):
    """One `advance` of the progress bar per step (a resumed level's earlier steps at once)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_start(self, state: LevelState, resumed: bool) -> None:
        if resumed:
            self.progress.advance(state.iteration)

    def after_step(self, state: LevelState) -> None:
        self.progress.advance()


class RewindSnapshot(Callback):
    """The model's whole state at iteration `at`, saved once to `path` (what `rewind` restarts
    pruned levels from)."""

    def __init__(self, path: Path, model: nn.Module, at: int) -> None:
        self.path, self.model, self.at = path, model, at

    def on_start(self, state: LevelState, resumed: bool) -> None:
        self.after_step(state)  # at == 0, or a resumed level that stopped right there

    def after_step(self, state: LevelState) -> None:
        if state.iteration == self.at and not self.path.exists():
            save_tensors(self.path, model_state(self.model))


class Evaluate(Callback):
    """At the schedule's evaluation points, `evaluate(iteration, label)`'s rows join the state."""

    def __init__(
        self, schedule: LevelSchedule, evaluate: Callable[[int, int | None], Rows]
    ) -> None:
        self.schedule, self.evaluate = schedule, evaluate

    def on_start(self, state: LevelState, resumed: bool) -> None:
        if not resumed and self.schedule.evaluates_at_start:
            state.rows += self.evaluate(0, 0)

    def after_step(self, state: LevelState) -> None:
        if self.schedule.evaluates_after(state.iteration):
            state.rows += self.evaluate(state.iteration, self.schedule.label(state.iteration))


class Checkpoint(Callback):
    """The metrics so far and everything needed to resume (model, optimizer, the attack's
    generator, the state), at a new level's start and at the loop's evaluation points (those
    that `eval_until` drops too)."""

    def __init__(
        self,
        level_dir: LevelDir,
        schedule: LevelSchedule,
        model: nn.Module,
        optimizer: Any,
        generator: torch.Generator,
    ) -> None:
        self.level_dir, self.schedule = level_dir, schedule
        self.model, self.optimizer, self.generator = model, optimizer, generator

    def on_start(self, state: LevelState, resumed: bool) -> None:
        if not resumed:
            self.save(state)

    def after_step(self, state: LevelState) -> None:
        if self.schedule.saves_after(state.iteration):
            self.save(state)

    def save(self, state: LevelState) -> None:
        write_metrics(self.level_dir.metrics, state.rows)
        save_checkpoint(
            self.level_dir.checkpoint, self.model, self.optimizer, self.generator, state
        )


class ShowLatest(Callback):
    """The latest test (or validation) accuracies beside the bar, after each evaluation."""

    def __init__(self, progress: Progress, schedule: LevelSchedule, **fields: Any) -> None:
        self.progress, self.schedule, self.fields = progress, schedule, fields

    def on_start(self, state: LevelState, resumed: bool) -> None:
        if not resumed:
            self.show(state.rows)

    def after_step(self, state: LevelState) -> None:
        if self.schedule.evaluates_after(state.iteration):
            self.show(state.rows)

    def show(self, rows: Rows) -> None:
        last = {r["split"]: r for r in rows[-2:]}
        shown = last.get("test") or last.get("valid")
        if shown is not None:
            self.progress.show(
                **self.fields, acc=f"{shown['acc']:.3f}", adv=f"{shown['adv_acc']:.3f}"
            )


class OverfitCheck(Callback):
    """The catastrophic-overfitting check (Wong et al., 2020: single-step adversarial training
    whose PGD accuracy collapses within an epoch): `measure(step)` (PGD accuracy of a fixed
    held-out batch) every `every` steps and after the last one; when it falls more than `drop`
    below its best so far, one warning and, by `action`, nothing more (`warn`), the end of the
    level (`stop`) or training on (`restore`); both of these end the level with the weights of
    the best check (`finish`).

    Its record (the checks, the best, when it fired) and the best weights live in the level's
    state, saved atomically with each checkpoint, so a resumed level replays from the state the
    checkpoint saw: the checks are seeded by step, so the replay measures what the first run
    did."""

    KEY = "co"  # its entry in LevelState.extras; its tensors are "co_best/<name>"

    def __init__(
        self,
        model: nn.Module,
        measure: Callable[[int], float],
        *,
        every: int,
        total: int,
        per_epoch: int,
        drop: float,
        action: str,
        warn: Callable[[str], None],
    ) -> None:
        self.model, self.measure, self.warn = model, measure, warn
        self.every, self.total, self.per_epoch = every, total, max(per_epoch, 1)
        self.drop, self.action = drop, action

    def on_start(self, state: LevelState, resumed: bool) -> None:
        state.extras.setdefault(self.KEY, {"checks": [], "best": None, "fired": None})

    def after_step(self, state: LevelState) -> None:
        if state.iteration % self.every == 0 or state.iteration == self.total:
            self.check(state)

    def check(self, state: LevelState) -> None:
        record, step = state.extras[self.KEY], state.iteration
        point = {
            "step": step,
            "epoch": round(step / self.per_epoch, 3),
            "pgd_acc": self.measure(step),
        }
        record["checks"].append(point)
        best = record["best"]
        if best is None or point["pgd_acc"] > best["pgd_acc"]:
            record["best"] = point
            if self.action != "warn":  # kept for the end of the level
                for name, value in model_state(self.model).items():
                    state.tensors[f"co_best/{name}"] = value
        elif record["fired"] is None and best["pgd_acc"] - point["pgd_acc"] > self.drop:
            record["fired"] = point
            self.warn(
                f"catastrophic overfitting? PGD accuracy {point['pgd_acc']:.3f} at step {step} "
                f"(epoch {point['epoch']:g}), best {best['pgd_acc']:.3f} at step {best['step']}"
                + {"warn": "", "stop": ": stopping the level", "restore": ""}[self.action]
            )
            if self.action == "stop":
                state.stop = True

    def finish(self, state: LevelState) -> dict[str, Any]:
        """At the level's end: load the best check's weights if the check fired and the action
        says so; returns where the final weights come from (for done.json and co.json)."""
        record = state.extras.get(self.KEY) or {"checks": [], "best": None, "fired": None}
        best = record["best"]
        if record["fired"] is not None and self.action != "warn" and best is not None:
            prefix = "co_best/"
            saved = {k[len(prefix) :]: v for k, v in state.tensors.items() if k.startswith(prefix)}
            load_state(self.model, saved)
            source = {"step": best["step"], "epoch": best["epoch"], "from": "best_check"}
        else:
            step = state.iteration
            source = {"step": step, "epoch": round(step / self.per_epoch, 3), "from": "end"}
        record["final_weights"] = source
        return source
