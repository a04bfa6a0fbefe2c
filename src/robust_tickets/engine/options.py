"""How to run an experiment: options that change neither its results nor its identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
    # copy a trial's level 0 from a sibling experiment in `output` that finished it with the
    # same settings (`engine.borrow`); --no-borrow-level0 trains every level 0 itself
    borrow_level0: bool = True
    trial_list: tuple[int, ...] | None = field(default=None)

    def trial_ids(self) -> list[int]:
        if self.trial_list is not None:
            return list(self.trial_list)
        return list(range(self.first_trial, self.first_trial + self.trials))
