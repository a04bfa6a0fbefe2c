"""`evaluate --jobs N`: the planned levels attacked by N worker processes at once.

Levels are independent (each attack is seeded from the level alone, `runner._evaluate_level`),
so N processes of one thread each use N cores where one process's intra-op threads on a small
network barely use two. The parent holds every level's claim (`runner.claimed_levels`) for the
whole run; each worker writes only the levels it was given, so no two processes write one
``robustness/``. Identical networks of sibling experiments (`twins`) go to the same worker, one
after the other, so the second borrows the first's results instead of attacking it again.
Workers are spawned, never forked: the parent has torch loaded.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from robust_tickets.evaluation.runner import EvalOptions, LevelPlan, evaluate_experiment
from robust_tickets.evaluation.twins import fingerprint
from robust_tickets.progress import Progress
from robust_tickets.store import ExperimentDir

# one unit of work: (experiment path, trial, level) of each level a worker evaluates in order
Unit = tuple[str, int, int]
Outcome = tuple[str, int, int, Any, Any]  # ... plus the level's result and RobustBench entry


def groups(work: list[tuple[ExperimentDir, list[LevelPlan]]]) -> list[list[Unit]]:
    """The planned levels, byte-identical networks of one run seed grouped together (so that a
    worker evaluates a twin once and the rest borrow), largest groups first."""
    found: dict[tuple, list[Unit]] = {}
    for exp, plans in work:
        config = exp.config()
        run = (config.seed, config.data.dataset, config.model.model)
        for plan in plans:
            key = (*run, plan.trial, plan.level, fingerprint(plan.level_dir, plan.surrogate))
            found.setdefault(key, []).append((str(exp.path), plan.trial, plan.level))
    return sorted(found.values(), key=len, reverse=True)


def _start_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _evaluate_units(units: list[Unit], options: EvalOptions) -> list[Outcome]:
    """In a worker: evaluate each unit's level, in order; what the parent prints and writes."""
    done = []
    for path, trial, level in units:
        one = dataclasses.replace(options, trials=(trial,), levels=(level,), quiet=True)
        for plan in evaluate_experiment(ExperimentDir(Path(path)), one):
            done.append((path, plan.trial, plan.level, plan.result, plan.robustbench))
    return done


def evaluate_parallel(
    work: list[tuple[ExperimentDir, list[LevelPlan]]],
    options: EvalOptions,
    jobs: int,
    threads: int = 1,
) -> None:
    """Evaluate every planned level of `work` in `jobs` worker processes of `threads` torch
    threads each; fills each plan's `result` and `robustbench` as `evaluate_experiment` does.
    The caller holds the levels' claims. A worker's error stops the rest and is raised here."""
    plans = {(str(exp.path), p.trial, p.level): p for exp, ps in work for p in ps}
    todo = groups(work)
    if not todo:
        return
    progress = Progress(len(plans), quiet=options.quiet, desc="evaluating", unit="levels")
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(todo)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(threads,),
        ) as pool:
            futures = [pool.submit(_evaluate_units, units, options) for units in todo]
            try:
                for future in as_completed(futures):
                    for path, trial, level, result, entry in future.result():
                        plan = plans[(path, trial, level)]
                        plan.result, plan.robustbench = result, entry
                        progress.show(trial=trial, level=level)
                        progress.advance(1)
            except BaseException:
                for future in futures:  # not started yet: never started
                    future.cancel()
                raise
    finally:
        progress.close()
