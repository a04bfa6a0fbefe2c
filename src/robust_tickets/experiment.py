"""An experiment: its trials, one after another or on a pool of worker processes (`--jobs`).

`run_experiment` validates the inputs, claims the trials, writes the config and runs each
trial's levels with `engine.trial.TrialRunner`, or hands the levels of several trials to
`engine.pool`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import torch

from robust_tickets.attacks import make_attack
from robust_tickets.claims import claimed
from robust_tickets.config import ExperimentConfig
from robust_tickets.data import Splits, load_splits
from robust_tickets.data.fetch import ensure_dataset
from robust_tickets.device import available_cores, resolve_device
from robust_tickets.engine.options import RunOptions
from robust_tickets.engine.pool import LevelPool
from robust_tickets.engine.trial import TrialRunner, with_test_size
from robust_tickets.errors import RunFailed, UserError
from robust_tickets.models import create_model
from robust_tickets.progress import Progress, Work, eval_cost
from robust_tickets.schedule import level_schedule, level_steps, num_levels
from robust_tickets.store import (
    ExperimentDir,
    experiment_dir,
    is_complete,
    verify_trial,
    verify_trial_states,
    write_config,
)

__all__ = ["RunOptions", "run_experiment"]


def run_experiment(
    config: ExperimentConfig, options: RunOptions, splits: Splits | None = None
) -> tuple[ExperimentDir, list[int]]:
    """Run (or resume) the requested trials; returns the directory and the trials that ran."""
    device = resolve_device(options.device)
    if options.threads:
        torch.set_num_threads(options.threads)
    # absolute: the path printed at the end is one a user can paste anywhere
    exp = experiment_dir(Path(options.output).resolve(), config)
    trial_ids = options.trial_ids()
    todo = [t for t in trial_ids if options.force or not is_complete(exp, config, t)]
    if not todo:
        return exp, []
    data_files = splits is None  # the dataset's verified files, not tensors handed in
    if splits is None:
        ensure_dataset(config.data.dataset, options.data_dir, allow_fetch=options.fetch)
        splits = load_splits(config.data.dataset, config.data.valid_size, options.data_dir)
    if config.train.batch_size > len(splits.train):
        raise UserError(
            f"batch_size {config.train.batch_size} is larger than the training set "
            f"({len(splits.train)} images): choose a smaller --batch-size"
        )
    shape = tuple(splits.train.x.shape[1:])
    # built before anything is written: a user's model that does not fit is refused first
    model = create_model(config.model.model, shape, splits.num_classes, seed=0)
    with _claims(options, config, trial_ids if options.force else todo):
        write_config(exp, config)
        for trial in [] if options.force else todo:  # damage is named before any work starts
            verify_trial(exp.trial(trial))
            verify_trial_states(exp.trial(trial), model)  # e.g. files of another model
        if options.force:  # only now that the inputs are known to be good and no one else
            for trial in trial_ids:  # is running these trials
                exp.move_aside(trial)
        work = training_work(config, splits)
        total = len(trial_ids) * num_levels(config) * work.level()
        progress = Progress(total, quiet=options.quiet, desc=config.name(), work=work)
        finished = False
        try:
            progress.advance(
                (len(trial_ids) - len(todo)) * num_levels(config) * level_steps(config)
            )
            if options.jobs > 1 and len(todo) > 1 and device.type == "cpu":
                _run_in_pool(config, options, exp, splits, todo, progress, data_files)
            else:
                for trial in todo:
                    TrialRunner(
                        config,
                        exp,
                        trial,
                        splits,
                        device,
                        progress,
                        borrow_level0=borrow_level0(options),
                        data_files=data_files,
                    ).run()
            finished = True
        finally:
            progress.close(finished)
    return exp, todo


def borrow_level0(options: RunOptions) -> bool:
    """Whether levels may be copied from a sibling (level 0, or a shared chain's): not under
    --force, which asks for the trials to be trained again (a sibling may hold a copy of the
    very level being redone)."""
    return options.borrow_level0 and not options.force


def training_work(config: ExperimentConfig, splits: Splits) -> Work:
    """What one level costs, its evaluations counted (see `progress.Work`): its steps and
    evaluation points from the level's schedule (either training loop)."""
    t = config.train
    steps = make_attack(config.attack).passes
    examples = len(splits.valid) + len(with_test_size(splits, config).test)
    cost = eval_cost(t.batch_size, examples, t.adv_train, steps)
    return Work.of(level_schedule(config, len(splits.train)), cost)


def _claims(
    options: RunOptions, config: ExperimentConfig, trials: list[int]
) -> contextlib.AbstractContextManager:
    if not options.claim:
        return contextlib.nullcontext()
    return claimed(options.output, config.name(), trials)


def _run_in_pool(
    config: ExperimentConfig,
    options: RunOptions,
    exp: ExperimentDir,
    splits: Splits,
    todo: list[int],
    progress: Progress,
    data_files: bool,
) -> None:
    """Train several trials at once on a pool of processes, one level at a time.

    The dense 784-300-100 net at batch 60 is too small for two threads to share one matmul
    well, so independent levels in parallel use the cores far better (see benchmarks/)."""
    workers = min(options.jobs, len(todo))
    threads = options.threads or max(1, available_cores() // workers)
    pool_options = dataclasses.replace(
        options, threads=threads, borrow_level0=borrow_level0(options)
    )
    failed = LevelPool(
        config, pool_options, exp, splits, todo, progress, workers, data_files=data_files
    ).run()
    if failed:
        raise RunFailed(
            f"trial(s) {', '.join(map(str, sorted(failed)))} failed (see the messages above); "
            "run the same command again to resume them"
        )
