"""What the scheduler needs from an executor: run job specs somewhere, report how they ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from robust_tickets.sweep.jobs import JobSpec


@dataclass(frozen=True)
class Outcome:
    """How one attempt of a job ended."""

    ok: bool
    error: str = ""  # one line, for the summary
    detail: str = ""  # the full traceback or worker output, for the failure log
    info: dict[str, Any] = field(default_factory=dict)  # what `run_job` returned


class Executor(Protocol):
    """Runs up to `slots` jobs at once. Keys are the scheduler's; specs are what to run."""

    slots: int
    description: str  # one line for the start of a sweep: where and how jobs run

    def prepare(self, spec: JobSpec) -> JobSpec:
        """The spec with this executor's per-job resources filled in (threads, device)."""
        ...

    def submit(self, key: str, spec: JobSpec) -> None: ...

    def wait(self, timeout: float) -> list[tuple[str, Outcome]]:
        """Attempts that ended within `timeout` seconds (possibly none)."""
        ...

    def shutdown(self) -> None:
        """Stop running jobs (their work so far is checkpointed) and free resources."""
        ...
