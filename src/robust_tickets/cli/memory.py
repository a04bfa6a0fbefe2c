"""Running out of memory, told in one line (what to lower), with nothing half-made left behind.

torch reports an allocation that fails on the CPU as a RuntimeError ("DefaultCPUAllocator:
can't allocate memory") and on a GPU as torch.OutOfMemoryError; Python as MemoryError. All are
the user's to fix by asking for less, so the command line answers them as bad input (exit 2).
This module imports no torch: `--help` must stay fast.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

# What to lower, by command; a command not listed gets the general advice.
HINTS = {
    "run": "lower --batch-size, or --jobs (each worker process holds its own copy of the data)",
    "evaluate": "lower --batch-size (test images attacked at once, default 1000)",
    "sweep": "lower the grid's batch_size, or --jobs",
}
GENERAL_HINT = "close other programs, or use a machine with more memory"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` says that memory ran out (found without importing torch)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


def message(exc: BaseException, command: str) -> str:
    """One line: that memory ran out, how much was asked for when torch says, what to lower."""
    asked = ""
    match = re.search(r"allocate (\d+) bytes", str(exc))
    if match:
        asked = f" (an allocation of {int(match.group(1)) / 2**30:.1f} GiB failed)"
    else:
        match = re.search(r"[Tt]ried to allocate ([\d.]+ [KMGT]i?B)", str(exc))
        if match:
            asked = f" (an allocation of {match.group(1)} failed)"
    return f"out of memory{asked}: {HINTS.get(command, GENERAL_HINT)}"


def remove_unfinished_run(
    output: Path, experiment: Path, trials: list[int], output_existed: bool, name: str
) -> None:
    """After a `run` that ran out of memory: remove what it created and cannot use.

    `experiment` did not exist before the command. Of `trials`, those without a finished level
    are removed (only a checkpoint of a run that cannot proceed); a finished level is a result
    and stays. The experiment directory goes when nothing else is in it, and the results
    directory's claim files when the command created it. Done under the trials' claims, so a
    `run` started meanwhile on the same trials is never touched."""
    from robust_tickets.claims import claimed
    from robust_tickets.errors import UserError
    from robust_tickets.store import CONFIG_FILE, TrialDir

    try:
        with claimed(output, name, trials):
            for trial in trials:
                path = experiment / f"trial_{trial}"
                if path.is_dir() and not any(lv.is_done() for _, lv in TrialDir(path).levels()):
                    shutil.rmtree(path)
            if experiment.is_dir() and {p.name for p in experiment.iterdir()} <= {CONFIG_FILE}:
                (experiment / CONFIG_FILE).unlink(missing_ok=True)
                os.rmdir(experiment)
    except (UserError, OSError):  # another process took over, or wrote here: leave it all
        return
    if not output_existed:  # the claims' directories, and the results directory, if empty
        for empty in (output / ".sweep" / "locks", output / ".sweep", output):
            with contextlib.suppress(OSError):
                os.rmdir(empty)
