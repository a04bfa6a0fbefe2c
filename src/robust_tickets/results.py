"""Every metrics row under a directory, joined with its experiment, trial and level.

This is the stable interface that reports, sweeps, notebooks and checks read
(`robust-tickets results DIR --json`). Accuracies are fractions in [0, 1]; `remaining` is the
percent of prunable weights left at that level.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from robust_tickets.store import find_experiments, read_json, read_metrics

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
    "train_iters",
    "trial",
    "level",
    "remaining",
    "complete",
    "iteration",
    "split",
    "loss",
    "acc",
    "adv_loss",
    "adv_acc",
)


def iter_rows(root: str | Path) -> Iterator[dict[str, Any]]:
    for exp in find_experiments(root):
        config = exp.config()
        base = {
            "experiment": config.name(),
            "hash": config.hash(),
            "dataset": config.data.dataset,
            "model": config.model.model,
            "attack": config.attack.attack,
            "eps": config.attack.eps,
            "adv_train": config.train.adv_train,
            "strategy": config.prune.strategy,
            "prune_method": config.prune.prune_method,
            "train_iters": config.train.train_iters,
        }
        for trial, trial_dir in exp.trials():
            for level, level_dir in trial_dir.levels():
                if not (level_dir.metrics.is_file() and level_dir.info.is_file()):
                    continue
                info = read_json(level_dir.info)
                where = {
                    **base,
                    "trial": trial,
                    "level": level,
                    "remaining": info["remaining"],
                    "complete": level_dir.is_done(),
                }
                for row in read_metrics(level_dir.metrics):
                    yield {**where, **row}
