"""Every metrics row under a directory, joined with its experiment, trial and level.

This is the stable interface that reports, sweeps, notebooks and checks read
(`robust-tickets results DIR --json`). Accuracies are fractions in [0, 1]; `remaining` is the
percent of prunable weights left at that level.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robust_tickets.config import ExperimentConfig
from robust_tickets.schedule import level_steps
from robust_tickets.store import find_experiments, read_level_info, read_level_metrics

ROW_FIELDS = (
    "experiment",
    "hash",
    "dataset",
    "model",
    "attack",
    "eps",
    "adv_train",
    "strategy",
    "prune_method",
    "criterion",
    "one_shot",
    "train_iters",
    "trial",
    "level",
    "remaining",
    "complete",
    "iteration",
    "label",
    "split",
    "loss",
    "acc",
    "adv_loss",
    "adv_acc",
)


def _experiment_fields(config: ExperimentConfig) -> dict[str, Any]:
    return {
        "experiment": config.name(),
        "hash": config.hash(),
        "dataset": config.data.dataset,
        "model": config.model.model,
        "attack": config.attack.attack.name,
        "eps": config.attack.eps,
        "adv_train": config.train.adv_train,
        "strategy": config.prune.strategy.name,
        "prune_method": config.prune.allocation.name,
        "criterion": config.prune.criterion.name,
        "one_shot": config.prune.one_shot,
        # the level's training steps (the keras loop's 60 epochs are 50,040 steps, not the
        # config's train_iters of 50,000): a row with iteration == train_iters is a level's end
        "train_iters": level_steps(config),
    }


def iter_rows(root: str | Path, *, include_eval: bool = False) -> Iterator[dict[str, Any]]:
    """Training metrics rows; with `include_eval`, then the evaluation rows (`iter_eval_rows`)."""
    for exp in find_experiments(root):
        config = exp.config()
        base = _experiment_fields(config)
        for trial, trial_dir in exp.trials():
            for level, level_dir in trial_dir.levels():
                if not level_dir.info.is_file():
                    continue
                info = read_level_info(level_dir.info)
                where = {
                    **base,
                    "trial": trial,
                    "level": level,
                    "remaining": info["remaining"],
                    "complete": level_dir.is_done(),
                }
                for row in read_level_metrics(level_dir):
                    yield {**where, **row}
    if include_eval:
        yield from iter_eval_rows(root)


# ---- strong-attack evaluation (`robust-tickets evaluate`) ----------------------------------
# Separate rows with their own `split`, so consumers of the training rows never see them:
# split "robustness": one row per (evaluation attack, eps) and the per-example worst case
#   (eval_attack "worst-case"); acc = fraction of the first n_examples test examples robust;
# split "masking-check": one row per gradient-masking check with flag pass/warn/skip.
# `attack`/`eps` stay the training attack and eps; the evaluation's are eval_attack/eval_eps.
EVAL_ROW_FIELDS = (
    *ROW_FIELDS[: ROW_FIELDS.index("split") + 1],
    "eval_attack",
    "eval_params",
    "eval_eps",
    "n_examples",
    "correct",
    "acc",
    "role",
    "seconds",
    "check",
    "flag",
    "detail",
)


def iter_eval_rows(root: str | Path) -> Iterator[dict[str, Any]]:
    from robust_tickets.evaluation.store import RobustnessDir

    for exp in find_experiments(root):
        config = exp.config()
        base = _experiment_fields(config)
        for trial, trial_dir in exp.trials():
            for level, level_dir in trial_dir.levels():
                store = RobustnessDir.of(level_dir)
                if not (store.table.is_file() and level_dir.info.is_file()):
                    continue
                where = {
                    **base,
                    "trial": trial,
                    "level": level,
                    "remaining": read_level_info(level_dir.info)["remaining"],
                    "complete": level_dir.is_done(),
                    "iteration": level_steps(config),
                }
                for row in store.read_table():
                    yield {
                        **where,
                        "split": "robustness",
                        "eval_attack": row["attack"],
                        "eval_params": row["params"],
                        "eval_eps": row["eps"],
                        "n_examples": row["n"],
                        "correct": row["correct"],
                        "acc": row["acc"],
                        "role": row["role"],
                        "seconds": row["seconds"],
                    }
                report = store.read_checks()
                for check in report["checks"] if report else []:
                    yield {
                        **where,
                        "split": "masking-check",
                        "eval_eps": report["eps"],
                        "n_examples": report["n"],
                        "check": check["check"],
                        "flag": check["flag"],
                        "detail": check["detail"],
                    }
