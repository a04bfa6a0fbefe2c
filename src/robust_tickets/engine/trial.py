"""One trial of the iterative-pruning experiment: levels of train -> evaluate -> prune -> re-init.

Every level is resumable: its starting state and masks are a deterministic function of the
previous level's saved files (and are saved when it starts), and training state is checkpointed
at each evaluation. A level is the short loop of `engine.loop` with the callbacks of
`engine.callbacks`; `robust_tickets.experiment` runs the trials of an experiment, one after
another or on a pool of processes (`engine.pool`).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from robust_tickets.attacks import ATTACKS
from robust_tickets.config import ExperimentConfig
from robust_tickets.data import Splits, splits_digest
from robust_tickets.data.load import Split
from robust_tickets.engine.borrow import borrow_level, borrow_level0, describe, remove_leftovers
from robust_tickets.engine.callbacks import (
    Checkpoint,
    CountSteps,
    Evaluate,
    LearningRate,
    OverfitCheck,
    RewindSnapshot,
    ShowLatest,
)
from robust_tickets.engine.feed import BatchFeed
from robust_tickets.engine.loop import Callback, train_level
from robust_tickets.errors import UserError
from robust_tickets.models import create_model, reinitialise
from robust_tickets.models.ticket import (
    apply_masks_,
    full_masks,
    layer_kinds,
    load_state,
    remaining_percent,
)
from robust_tickets.models.ticket import state as model_state
from robust_tickets.optim import SCHEDULES
from robust_tickets.progress import Progress
from robust_tickets.provenance import run_info
from robust_tickets.pruning import (
    CRITERIA,
    PRUNE_METHODS,
    STRATEGIES,
    LevelStart,
    PruneContext,
)
from robust_tickets.schedule import LevelSchedule, level_schedule, level_steps, num_levels
from robust_tickets.seeds import derive
from robust_tickets.store import (
    ExperimentDir,
    LevelDir,
    TrialDir,
    load_state_file,
    load_tensors,
    remove_stale_temps,
    save_tensors,
    write_json,
)
from robust_tickets.training import AutogradStepper, evaluate_split, make_optimizer
from robust_tickets.training.batches import EpochBatches
from robust_tickets.training.checkpoint import LevelState, load_checkpoint

CO_IMAGES = 256  # the catastrophic-overfitting check's fixed held-out batch
CO_STEPS = 10  # its PGD: 10 steps of eps/4 from a random start, on the true labels


def pruning_rates(config: ExperimentConfig, model: nn.Module) -> dict[str, float]:
    """Each prunable parameter's rate per level: by kind of layer (layerwise), or one rate for
    all (global)."""
    return PRUNE_METHODS.get(config.prune.allocation).rates(layer_kinds(model))


def with_test_size(splits: Splits, config: ExperimentConfig) -> Splits:
    """The splits a run evaluates on: the first `test_size` test images (0: all)."""
    n = config.data.test_size
    if not n or n >= len(splits.test):
        return splits
    test = Split(splits.test.x[:n], splits.test.y[:n])
    return dataclasses.replace(splits, test=test)


class TrialRunner:
    """Runs (or resumes) every level of one trial."""

    def __init__(
        self,
        config: ExperimentConfig,
        exp: ExperimentDir,
        trial: int,
        splits: Splits,
        device: torch.device,
        progress: Progress,
        *,
        borrow_level0: bool = False,
        data_files: bool = False,
    ) -> None:
        self.config, self.exp, self.trial = config, exp, trial
        self.dir: TrialDir = exp.trial(trial)
        self.splits, self.device, self.progress = with_test_size(splits, config), device, progress
        self.data = splits_digest(splits)  # recorded in done.json: what a borrower must match
        # copy level 0 from a sibling run with the same settings where one has finished it;
        # `data_files`: the splits are the dataset's verified files (engine.borrow)
        self.borrow_level0, self.data_files = borrow_level0, data_files
        self.seed = derive(config.seed, "trial", trial)
        self.attack = ATTACKS.cls(config.attack.attack)
        self.strategy = STRATEGIES.get(config.prune.strategy)
        input_shape = tuple(splits.train.x.shape[1:])
        self.model: nn.Module = create_model(
            config.model.model, input_shape, splits.num_classes, derive(self.seed, "init")
        ).to(device)

    # ---- level start ------------------------------------------------------------------
    def _fresh(self, level: int) -> dict[str, torch.Tensor]:
        reinitialise(self.config.model.model, self.model, derive(self.seed, "random", level))
        return model_state(self.model)

    def _batches(self, level: int):
        """Training batches for data-driven criteria, seeded per level."""
        x, y = self.splits.train.x, self.splits.train.y
        size = self.config.train.batch_size

        def draw(count: int):
            g = torch.Generator().manual_seed(derive(self.seed, "prune-data", level))
            for _ in range(count):
                index = torch.randint(0, len(y), (size,), generator=g)
                yield x[index].to(self.device), y[index].to(self.device)

        return draw

    def _loss(self, level: int, new_masks_for: dict[str, torch.Tensor]):
        """The training loss of the model on a batch, with this level's own attack noise."""
        stepper = AutogradStepper(self.model, new_masks_for, None, self.config, self.attack)
        generator = torch.Generator(self.device).manual_seed(
            derive(self.seed, "prune-attack", level)
        )
        return lambda x, y: stepper.loss(x, y, generator)

    def start_state(self, level: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(whole state, masks) the level starts from."""
        if level == 0:
            return model_state(self.model), full_masks(self.model)  # the trial's init, just built
        previous = self.dir.level(level - 1)
        if self.config.prune.one_shot:  # every level prunes the dense network, from scratch
            trained, old_masks = load_tensors(self.dir.level(0).final), full_masks(self.model)
        else:
            trained = load_state_file(previous.final, self.model)  # checked: names and shapes
            old_masks = load_tensors(previous.masks)
        load_state(self.model, trained)
        self.model.eval()
        sizes = {n: m.numel() for n, m in old_masks.items()}
        p = self.config.prune
        allocation = PRUNE_METHODS.get(p.allocation)
        rates = pruning_rates(self.config, self.model)
        context = PruneContext(
            tensors=trained,
            masks=old_masks,
            keep=allocation.keep_counts(sizes, rates, p.schedule_levels[level - 1]),
            allocation=allocation,
            generator=torch.Generator().manual_seed(derive(self.seed, "prune", level)),
            model=self.model,
            batches=self._batches(level),
            loss=self._loss(level, new_masks_for=old_masks),
        )
        new_masks = CRITERIA.get(p.criterion)(context)
        rewind = load_tensors(self.dir.rewind) if self.strategy.needs_rewind else None
        chosen = self.strategy.choose(
            LevelStart(
                # with what the criterion adapted (HYDRA's batch norm under hydra_train_bn)
                trained={**trained, **context.adapted},
                original=load_tensors(self.dir.level(0).init),
                rewind=rewind,
                fresh=lambda: self._fresh(level),
                dense_trained=lambda: load_tensors(self.dir.level(0).final),
            )
        )
        start = {k: v * new_masks[k] if k in new_masks else v for k, v in chosen.items()}
        return start, new_masks

    # ---- one level ----------------------------------------------------------------------
    def evaluate(self, level: int, iteration: int, label: int | None) -> list[dict]:
        rows = []
        generator = torch.Generator(self.device).manual_seed(
            derive(self.seed, "eval", level, iteration)
        )
        for split_name, smoothing in (("valid", self.config.data.label_smoothing), ("test", 0.0)):
            split = getattr(self.splits, split_name)
            if len(split) == 0:
                continue
            metrics = evaluate_split(
                self.model,
                split,
                self.attack,
                self.config.attack,
                label_smoothing=smoothing,
                loss_form=self.config.train.loss_form,
                generator=generator,
                device=self.device,
            )
            rows.append({"iteration": iteration, "split": split_name, **metrics, "label": label})
        return rows

    def run_level(self, level: int) -> bool:
        """Train (or resume) one level; False if it was copied from a sibling run instead
        (`engine.borrow`: a level 0 with the same settings, or a level of the same chain)."""
        level_dir = self.dir.level(level)
        if level_dir.path.is_dir():
            remove_stale_temps(level_dir.path)
        if self.borrow_level0:
            run = (self.exp, self.config, self.trial)
            local = (self.model, self.data, self.data_files)
            if level == 0:
                record = borrow_level0(*run, *local)
            else:
                record = borrow_level(*run, level, *local)
            if record is not None:
                self.progress.write(describe(record))
                return False
        if level == 0 and not level_dir.info.exists():
            # a snapshot without its level 0 is a borrow cut short: this level 0 takes its own
            self.dir.rewind.unlink(missing_ok=True)
            remove_leftovers(self.dir)
        masks, remaining = self._begin(level, level_dir)
        optimizer = make_optimizer(self.model, self.config)
        generator = torch.Generator(self.device).manual_seed(derive(self.seed, "attack", level))
        schedule = level_schedule(self.config, len(self.splits.train))
        resumed = level_dir.checkpoint.exists()
        if resumed:
            state = load_checkpoint(level_dir.checkpoint, self.model, optimizer, generator)
        else:
            state = LevelState(iteration=0, rows=[])
        batches = EpochBatches(
            len(self.splits.train),
            self.config.train.batch_size,
            derive(self.seed, "data", level),
            per_epoch=schedule.per_epoch,
        )
        feed = BatchFeed(
            self.model,
            masks,
            optimizer,
            self.config,
            self.attack,
            self.splits.train,
            batches,
            self.device,
            augment_seed=derive(self.seed, "augment", level),
        )
        began = time.perf_counter()
        callbacks = self.callbacks(level, level_dir, schedule, optimizer, generator, remaining)
        train_level(state, schedule.total, lambda i: feed.step(i, generator), callbacks, resumed)
        extra: dict = {}
        check = next((c for c in callbacks if isinstance(c, OverfitCheck)), None)
        if check is not None:
            extra = self._finish_check(level, level_dir, check, state)
        save_tensors(level_dir.final, model_state(self.model))
        write_json(
            level_dir.done,
            {
                "level": level,
                "remaining": remaining,
                "iterations": state.iteration,  # the schedule's, unless co_action stopped it
                "seconds_this_session": round(time.perf_counter() - began, 3),
                "data_sha256": self.data,  # the splits it saw (`data.splits_digest`)
                **extra,
                **run_info(self.device),  # what made these numbers, for reports
            },
        )
        level_dir.checkpoint.unlink(missing_ok=True)
        return True

    def _finish_check(
        self, level: int, level_dir: LevelDir, check: OverfitCheck, state: LevelState
    ) -> dict:
        """The overfitting check's end of a level: the best weights loaded if it acted, its
        record in co.json, and for done.json where the final weights come from (and, if not
        from the last step, their evaluation: metrics.csv holds the training-time ones)."""
        source = check.finish(state)
        write_json(level_dir.co, state.extras[OverfitCheck.KEY])
        extra: dict = {"final_weights": source}
        if source["from"] != "end":
            extra["final_weights_eval"] = self.evaluate(level, source["step"], None)
        return extra

    def _overfit_measure(self, level: int) -> Callable[[int], float]:
        """PGD accuracy (eps, step eps/4, 10 steps, random start, true labels) of the first
        CO_IMAGES validation images (test ones without a validation set), seeded by step."""
        split = self.splits.valid if len(self.splits.valid) else self.splits.test
        if len(split) == 0:
            raise UserError("co_check needs validation or test images: raise --valid-size")
        x = split.x[:CO_IMAGES].to(self.device)
        y = split.y[:CO_IMAGES].to(self.device)
        eps = self.config.attack.eps
        kind = ATTACKS.cls("pgd")
        params = kind.Params(step_size=eps / 4, steps=CO_STEPS, random_start=True)
        pgd = kind(params, eps=eps, labels="true")
        model = self.model

        def measure(step: int) -> float:
            seed = derive(self.seed, "co", level, step)  # its own: training's noise untouched
            x_adv = pgd(model, x, y, torch.Generator(self.device).manual_seed(seed))
            was_training = model.training
            model.eval()
            try:
                with torch.no_grad():
                    correct = (model(x_adv).argmax(1) == y).sum()
            finally:
                model.train(was_training)
            return round(float(correct) / len(y), 6)

        return measure

    def _warn(self, message: str) -> None:
        """One line on stderr, above the progress bar if there is one."""
        if getattr(self.progress, "bar", None) is not None:
            self.progress.write(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def _begin(self, level: int, level_dir: LevelDir) -> tuple[dict[str, torch.Tensor], float]:
        """Load the level's start into the model (saved when the level first starts: criteria
        may be costly); its masks and the percent of weights they keep."""
        if level_dir.info.exists():  # started before: its start is on disk (checked: shapes)
            start = load_state_file(level_dir.init, self.model)
            masks = load_tensors(level_dir.masks)
        else:
            start, masks = self.start_state(level)
        load_state(self.model, start)
        apply_masks_(self.model, masks)
        remaining = remaining_percent(masks)
        if not level_dir.info.exists():
            save_tensors(level_dir.masks, masks)
            save_tensors(level_dir.init, start)
            write_json(level_dir.info, {"level": level, "remaining": remaining})
        return masks, remaining

    def callbacks(
        self,
        level: int,
        level_dir: LevelDir,
        schedule: LevelSchedule,
        optimizer,
        generator: torch.Generator,
        remaining: float,
    ) -> list[Callback]:
        """What runs beside a level's training steps, in order."""
        callbacks: list[Callback] = [CountSteps(self.progress)]
        lr_schedule = SCHEDULES.get(self.config.train.lr_schedule)
        if not lr_schedule.constant:  # the constant rate is the optimizer's own: nothing to set
            lr = self.config.train.learning_rate
            full = dataclasses.replace(schedule, stop_step=0).total  # stop_step cuts, not rescales
            callbacks.insert(0, LearningRate(optimizer, lr, lr_schedule, full))
        at = self.strategy.rewind_step()
        if level == 0 and at is not None:
            callbacks.append(RewindSnapshot(self.dir.rewind, self.model, at))
        t = self.config.train
        if t.co_check:  # before the checkpoint, which saves its record with the weights
            per_epoch = math.ceil(len(self.splits.train) / t.batch_size)
            callbacks.append(
                OverfitCheck(
                    self.model,
                    self._overfit_measure(level),
                    every=t.co_every or per_epoch,
                    total=schedule.total,
                    per_epoch=per_epoch,
                    drop=t.co_drop,
                    action=t.co_action,
                    warn=lambda message: self._warn(f"trial {self.trial} level {level}: {message}"),
                )
            )
        return [
            *callbacks,
            Evaluate(schedule, lambda iteration, label: self.evaluate(level, iteration, label)),
            Checkpoint(level_dir, schedule, self.model, optimizer, generator),
            ShowLatest(
                self.progress,
                schedule,
                trial=self.trial,
                level=level_dir.path.name[-2:],
                left=f"{remaining:.1f}%",
            ),
        ]

    def run(self) -> None:
        if self.dir.path.is_dir():
            remove_stale_temps(self.dir.path)  # e.g. a rewind snapshot cut short by kill -9
        for level in range(num_levels(self.config)):
            level_dir = self.dir.level(level)
            if level_dir.is_done() or not self.run_level(level):  # finished, or borrowed
                self.progress.advance(level_steps(self.config))
