"""What ran: the code (version, git commit), torch, device and threads, recorded beside each
finished level so that a report can say how its numbers were made."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

from robust_tickets import __version__


@functools.cache
def git_commit() -> str:
    """The commit of the source checkout this package runs from ("-dirty" when tracked files
    differ from it), or "" when it is not a git checkout (e.g. installed from a wheel)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + ("-dirty" if dirty else "")


def run_info(device: Any) -> dict[str, Any]:
    """Version, commit, torch, device and torch threads of this process."""
    import torch

    return {
        "robust_tickets": __version__,
        "commit": git_commit(),
        "torch": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
    }
