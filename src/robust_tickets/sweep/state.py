"""What a sweep knows of each job (status, attempts, error) and of itself when it ends: shared by
the scheduler, which changes it, and the views, which show it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from robust_tickets.sweep.jobs import Job


@dataclass
class JobState:
    job: Job
    status: str = "pending"  # pending, running, blocked, done, failed, already
    attempts: int = 0
    error: str = ""
    log: Path | None = None
    seconds: float = 0.0


@dataclass
class SweepResult:
    states: list[JobState]
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def by_status(self, status: str) -> list[JobState]:
        return [s for s in self.states if s.status == status]

    @property
    def ok(self) -> bool:
        return not self.by_status("failed")
