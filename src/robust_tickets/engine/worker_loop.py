"""What a worker process does: the (trial, level) pairs it is sent, one at a time, each answered
with ("done" | "failed", trial, level[, reason]) until it is sent None."""

from __future__ import annotations

import traceback
from multiprocessing.connection import Connection

import torch

from robust_tickets.config import ExperimentConfig
from robust_tickets.data import load_splits
from robust_tickets.engine.options import RunOptions
from robust_tickets.engine.trial import TrialRunner
from robust_tickets.progress import Progress
from robust_tickets.store import experiment_dir


def run_levels(config: ExperimentConfig, options: RunOptions, conn: Connection) -> None:
    torch.set_num_threads(options.threads or 1)
    exp = experiment_dir(options.output, config)
    splits = load_splits(config.data.dataset, config.data.valid_size, options.data_dir)
    quiet = Progress(0, quiet=True)  # the parent shows every trial's progress, from the files
    cpu = torch.device("cpu")
    while (task := conn.recv()) is not None:
        trial, level = task
        try:
            runner = TrialRunner(  # its splits: the dataset's own files, loaded above
                config,
                exp,
                trial,
                splits,
                cpu,
                quiet,
                borrow_level0=options.borrow_level0,
                data_files=True,
            )
            runner.run_level(level)
        except Exception as error:  # reported to the parent, which carries on with the rest
            traceback.print_exc()
            conn.send(("failed", trial, level, f"{type(error).__name__}: {error}"))
        else:
            conn.send(("done", trial, level))
