"""A sweep job is one (config, trial): exactly what `robust-tickets run` would run for that trial.

Jobs write to the ordinary results store; the sweep keeps its own bookkeeping (claims, failure
logs, a store identity) under ``OUTPUT/.sweep/``, which `results` and `report` skip as hidden.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robust_tickets.claims import STORE_AREA, trial_claim_path
from robust_tickets.config import ExperimentConfig
from robust_tickets.errors import UserError
from robust_tickets.schedule import level_schedule, level_steps, num_levels

SWEEP_DIR = STORE_AREA


@dataclass(frozen=True)
class Job:
    config: ExperimentConfig
    trial: int

    @property
    def key(self) -> str:
        """Unique within a store: the run directory name and the trial."""
        return f"{self.config.name()}/trial_{self.trial}"

    @property
    def levels(self) -> int:
        return num_levels(self.config)

    @property
    def iterations(self) -> int:
        return self.levels * level_steps(self.config)

    @property
    def work(self) -> float:
        """Relative cost, in image gradient passes, for ETAs: the attack's passes per image
        (one for FGSM, `steps` for iterative attacks) on training batches and evaluations."""
        from robust_tickets.attacks import make_attack  # torch: not at import (fast `--help`)

        c = self.config
        passes = make_attack(c.attack).passes
        step = c.train.batch_size * (1 + (1 + passes if c.train.adv_train else 0))
        evaluation = eval_images(c) * (1 + passes)
        return self.levels * (level_steps(c) * step + evaluations_per_level(c) * evaluation)

    def is_complete(self, output: Path) -> bool:
        from robust_tickets.store import experiment_dir, is_complete  # torch: not at import

        return is_complete(experiment_dir(output, self.config), self.config, self.trial)

    def iterations_done(self, output: Path) -> int:
        """Training iterations already in the store (finished levels + the running level's last
        evaluation), read from small files only so that it can be polled."""
        from robust_tickets.store import experiment_dir, iterations_done

        return iterations_done(experiment_dir(output, self.config), self.config, self.trial)

    def lendable(self, output: Path, store: list | None = None) -> tuple[int, str]:
        """Levels of this job's trial that a sibling in `output` has finished and would lend
        (`engine.borrow.lendable_levels`; `store`: its `siblings(output)`), and its name."""
        from robust_tickets.engine.borrow import lendable_levels
        from robust_tickets.store import experiment_dir

        exp = experiment_dir(output, self.config)
        return lendable_levels(exp, self.config, self.trial, store)

    def level0_group(self) -> str:
        """Jobs with equal groups train the same level 0 (`engine.borrow.level0_settings`)."""
        from robust_tickets.engine.borrow import level0_settings

        return json.dumps([self.trial, level0_settings(self.config)], sort_keys=True, default=str)

    def rewind_step(self) -> int | None:
        """The level-0 step whose snapshot this job keeps: it borrows only from a job that
        keeps the same one, and lends to every job of its group."""
        from robust_tickets.engine.borrow import rewind_step

        return rewind_step(self.config)

    def level0_done(self, output: Path) -> bool:
        from robust_tickets.store import experiment_dir

        return experiment_dir(output, self.config).trial(self.trial).level(0).is_done()

    def borrowed_from(self, output: Path) -> str | None:
        """Which of this job's levels were copied from a sibling and from which (`engine.borrow`),
        e.g. "level 0 copied from X", "levels 0-11 copied from X"; None if none was."""
        from robust_tickets.engine.borrow import borrowed_record
        from robust_tickets.store import experiment_dir

        trial = experiment_dir(output, self.config).trial(self.trial)
        lenders: dict[str, list[int]] = {}
        for level in range(self.levels):
            record = borrowed_record(trial.level(level))
            if record is not None:
                lenders.setdefault(str(record["experiment"]), []).append(level)
        parts = []
        for lender, levels in lenders.items():
            if len(levels) == 1:
                which = f"level {levels[0]}"
            elif levels == list(range(levels[0], levels[-1] + 1)):
                which = f"levels {levels[0]}-{levels[-1]}"
            else:
                which = "levels " + ", ".join(map(str, levels))
            parts.append(f"{which} copied from {lender}")
        return "; ".join(parts) or None

    def file_stem(self) -> str:
        return f"{self.config.name()}.trial_{self.trial}"


def evaluations_per_level(config: ExperimentConfig) -> int:
    """At iteration 0, every `eval_every`, and at the end (or the keras loop's points)."""
    return level_schedule(config).evaluations


def eval_images(config: ExperimentConfig) -> int:
    """Images evaluated each time: the validation split and the test set (or its first
    `test_size` images)."""
    from robust_tickets.data.registry import DATASETS

    spec = DATASETS.get(config.data.dataset)
    test = spec.files["test_images"].shape[0]
    return config.data.valid_size + (min(config.data.test_size, test) or test)


# ---- the sweep's own area in the store --------------------------------------------------
def lock_path(output: Path, job: Job) -> Path:
    return trial_claim_path(output, job.config.name(), job.trial)


def log_path(output: Path, job: Job, attempt: int) -> Path:
    return output / SWEEP_DIR / "logs" / f"{job.file_stem()}.attempt{attempt}.log"


def store_identity(output: Path) -> str:
    """A random id written once into the store; workers check that they see the same store
    (on a cluster the results directory must be one shared filesystem)."""
    path = output / SWEEP_DIR / "store.json"
    if not path.is_file():
        from robust_tickets.store import write_json

        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # first writer wins, so that concurrent sweeps agree on the id
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            write_json(path, {"id": uuid.uuid4().hex, "created": time.time()})
    for _ in range(50):  # the winner may still be writing it
        try:
            return str(json.loads(path.read_text())["id"])
        except (ValueError, KeyError):
            time.sleep(0.1)
    raise UserError(f"{path} is unreadable: delete it and run the sweep again")


# ---- what a worker runs -----------------------------------------------------------------
@dataclass(frozen=True)
class JobSpec:
    """Everything a worker process (local or on a Ray node) needs to run one job."""

    config: ExperimentConfig
    trial: int
    output: str
    store_id: str
    data_dir: str | None = None
    device: str = "cpu"
    threads: int | None = None
    borrow_level0: bool = True  # copy level 0 from a sibling that finished it (engine.borrow)


def run_job(spec: JobSpec) -> dict[str, Any]:
    """Run (or resume) one job into the store; raises on failure. Returns timing facts."""
    import socket

    from robust_tickets.experiment import RunOptions, run_experiment

    output = Path(spec.output)
    try:
        seen = json.loads((output / SWEEP_DIR / "store.json").read_text())["id"]
    except (OSError, ValueError, KeyError):
        seen = None
    if seen != spec.store_id:
        raise UserError(
            f"results directory {output} is not the sweep's store on host "
            f"{socket.gethostname()}: put it on a filesystem every node shares"
        )
    began = time.time()
    options = RunOptions(
        output=output,
        trial_list=(spec.trial,),
        quiet=True,
        device=spec.device,
        data_dir=spec.data_dir,
        threads=spec.threads,
        borrow_level0=spec.borrow_level0,
    )
    run_experiment(spec.config, options)
    return {"seconds": time.time() - began, "host": socket.gethostname(), "pid": os.getpid()}


def one_line(exc: BaseException) -> str:
    """The first line of an error, as a user would want it in a summary."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, UserError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
