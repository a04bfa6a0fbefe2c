"""One trial of the iterative-pruning experiment: levels of train -> evaluate -> prune -> re-init.

Every level is resumable: its starting state and masks are a deterministic function of the
previous level's saved files (and are saved when it starts), and training state is checkpointed
at each evaluation. `robust_tickets.experiment` runs the trials of an experiment, one after
another or on a pool of processes (`robust_tickets.level_pool`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from robust_tickets.attacks import ATTACKS
from robust_tickets.config import ExperimentConfig
from robust_tickets.data import Splits
from robust_tickets.data.load import Split
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
from robust_tickets.progress import Progress
from robust_tickets.provenance import run_info
from robust_tickets.pruning import (
    CRITERIA,
    PRUNE_METHODS,
    STRATEGIES,
    LevelStart,
    PruneContext,
    keep_counts,
)
from robust_tickets.schedule import level_schedule, level_steps
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
    write_metrics,
)
from robust_tickets.training import AutogradStepper, evaluate_split, make_optimizer, make_stepper
from robust_tickets.training.batches import EpochBatches
from robust_tickets.training.checkpoint import LevelState, load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class RunOptions:
    """How to run an experiment; none of this changes its results or its identity."""

    trials: int = 1
    first_trial: int = 0
    output: Path = Path("results")
    force: bool = False
    quiet: bool = False
    device: str = "cpu"
    data_dir: str | None = None
    threads: int | None = None
    fetch: bool = True  # fetch a missing dataset on first use (--no-fetch forbids it)
    jobs: int = 1  # worker processes sharing out the trials' levels (CPU only)
    claim: bool = False  # take the trials' claim files (`run`; a sweep's driver holds its own)
    trial_list: tuple[int, ...] | None = field(default=None)

    def trial_ids(self) -> list[int]:
        if self.trial_list is not None:
            return list(self.trial_list)
        return list(range(self.first_trial, self.first_trial + self.trials))


def num_levels(config: ExperimentConfig) -> int:
    return 1 + config.prune.prune_iters if STRATEGIES.get(config.prune.strategy).prunes else 1


def resolve_device(name: str) -> torch.device:
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


def is_complete(exp: ExperimentDir, config: ExperimentConfig, trial: int) -> bool:
    trial_dir = exp.trial(trial)
    return all(trial_dir.level(k).is_done() for k in range(num_levels(config)))


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
    ) -> None:
        self.config, self.exp, self.trial = config, exp, trial
        self.dir: TrialDir = exp.trial(trial)
        self.splits, self.device, self.progress = with_test_size(splits, config), device, progress
        self.seed = derive(config.seed, "trial", trial)
        self.attack = ATTACKS.get(config.attack.attack)
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
        new_masks = CRITERIA.get(p.criterion)(
            PruneContext(
                tensors=trained,
                masks=old_masks,
                keep=keep_counts(sizes, pruning_rates(self.config, self.model), level),
                allocation=PRUNE_METHODS.get(p.allocation),
                generator=torch.Generator().manual_seed(derive(self.seed, "prune", level)),
                model=self.model,
                batches=self._batches(level),
                loss=self._loss(level, new_masks_for=old_masks),
            )
        )
        rewind = load_tensors(self.dir.rewind) if self.strategy.needs_rewind else None
        chosen = self.strategy.choose(
            LevelStart(
                trained=trained,
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

    def run_level(self, level: int) -> None:
        config, level_dir = self.config, self.dir.level(level)
        if level_dir.path.is_dir():
            remove_stale_temps(level_dir.path)
        if level_dir.info.exists():  # started before: its start is on disk (criteria may be
            start = load_state_file(level_dir.init, self.model)  # costly; checked: shapes)
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
        optimizer = make_optimizer(self.model, config)
        generator = torch.Generator(self.device).manual_seed(derive(self.seed, "attack", level))
        schedule = level_schedule(config, len(self.splits.train))
        batches = EpochBatches(
            len(self.splits.train),
            config.train.batch_size,
            derive(self.seed, "data", level),
            per_epoch=schedule.per_epoch,
        )
        if level_dir.checkpoint.exists():
            state = load_checkpoint(level_dir.checkpoint, self.model, optimizer, generator)
            self.progress.advance(state.iteration)
        else:
            rows = self.evaluate(level, 0, 0) if schedule.evaluates_at_start else []
            state = LevelState(iteration=0, rows=rows)
            self._after_eval(level_dir, optimizer, generator, state, remaining)
        self._maybe_save_rewind(level, state.iteration)

        began = time.perf_counter()
        train_x, train_y = self.splits.train.x, self.splits.train.y
        image_shape = train_x.shape[1:]
        flat_x = train_x.reshape(len(train_x), -1)  # index_select on rows: the cheapest gather
        feeds: dict[int, tuple] = {}  # batch size -> (stepper, input buffer)

        def feed(size: int) -> tuple:
            if size not in feeds:  # the keras loop's short last batch gets a stepper of its own
                stepper = make_stepper(self.model, masks, optimizer, config, self.attack, size)
                # a stepper may offer its own input buffer: the batch is gathered straight into it
                buffer = getattr(stepper, "images", None)
                if buffer is None or buffer.device != flat_x.device:
                    buffer = flat_x.new_empty(size, flat_x.shape[1])
                feeds[size] = (stepper, buffer)
            return feeds[size]

        while state.iteration < schedule.total:
            index = batches.indices(state.iteration)
            stepper, buffer = feed(len(index))
            y = torch.index_select(train_y, 0, index).to(self.device, non_blocking=True)
            x = torch.index_select(flat_x, 0, index, out=buffer).view(-1, *image_shape)
            stepper.step(x.to(self.device, non_blocking=True), y, generator)
            state.iteration += 1
            self.progress.advance()
            self._maybe_save_rewind(level, state.iteration)
            if schedule.evaluates_after(state.iteration):
                label = schedule.label(state.iteration)
                state.rows += self.evaluate(level, state.iteration, label)
                self._after_eval(level_dir, optimizer, generator, state, remaining)

        save_tensors(level_dir.final, model_state(self.model))
        write_json(
            level_dir.done,
            {
                "level": level,
                "remaining": remaining,
                "iterations": schedule.total,
                "seconds_this_session": round(time.perf_counter() - began, 3),
                **run_info(self.device),  # what made these numbers, for reports
            },
        )
        level_dir.checkpoint.unlink(missing_ok=True)

    def _after_eval(
        self, level_dir: LevelDir, optimizer, generator, state: LevelState, remaining: float
    ) -> None:
        write_metrics(level_dir.metrics, state.rows)
        save_checkpoint(level_dir.checkpoint, self.model, optimizer, generator, state)
        last = {r["split"]: r for r in state.rows[-2:]}
        shown = last.get("test") or last.get("valid")
        if shown is not None:
            self.progress.show(
                trial=self.trial,
                level=level_dir.path.name[-2:],
                left=f"{remaining:.1f}%",
                acc=f"{shown['acc']:.3f}",
                adv=f"{shown['adv_acc']:.3f}",
            )

    def _maybe_save_rewind(self, level: int, iteration: int) -> None:
        if (
            level == 0
            and self.strategy.needs_rewind
            and iteration == self.strategy.params.iter
            and not self.dir.rewind.exists()
        ):
            save_tensors(self.dir.rewind, model_state(self.model))

    def run(self) -> None:
        if self.dir.path.is_dir():
            remove_stale_temps(self.dir.path)  # e.g. a rewind snapshot cut short by kill -9
        for level in range(num_levels(self.config)):
            level_dir = self.dir.level(level)
            if level_dir.is_done():
                self.progress.advance(level_steps(self.config))
                continue
            self.run_level(level)


def iterations_done(exp: ExperimentDir, config: ExperimentConfig, trial: int) -> int:
    """Training iterations of `trial` already on disk (finished levels + the last evaluation)."""
    done = 0
    steps = level_steps(config)
    for level in range(num_levels(config)):
        level_dir = exp.trial(trial).level(level)
        if level_dir.is_done():
            done += steps
        elif level_dir.metrics.is_file():
            try:
                lines = level_dir.metrics.read_text().strip().splitlines()
                last = int(lines[-1].split(",", 1)[0]) if len(lines) > 1 else 0
            except (OSError, ValueError, IndexError):
                last = 0  # being replaced right now: the next poll will see it
            done += min(steps, last)
    return done
