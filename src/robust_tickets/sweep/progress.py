"""The live view of a sweep (jobs done/running/failed/left, iterations, ETA) and its summary.

Progress is read from the results store itself (finished levels, the running level's last
evaluation), so it works the same for local workers and for Ray tasks on other machines. On a
terminal it is a tqdm bar; otherwise (logs, CI) one line per event.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from robust_tickets.sweep.state import JobState, SweepResult

POLL_EVERY = 2.0  # seconds between reads of running jobs' progress from the store


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours / 24:.1f}d"


class View:
    """The events a sweep reports; this base shows nothing (library use, tests)."""

    def start(self, states: list[JobState], output: Path, description: str) -> None: ...
    def job_started(self, state: JobState) -> None: ...
    def job_retrying(self, state: JobState) -> None: ...
    def job_ended(self, state: JobState) -> None: ...
    def refresh(self) -> None: ...
    def close(self) -> None: ...


class LiveView(View):
    """Counts, a bar of training iterations over every job, and an ETA from this session's
    rate of work (what was in the store before the sweep started does not inflate it)."""

    def __init__(self, stream: TextIO | None = None, bar: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.use_bar = self.stream.isatty() if bar is None else bar
        self.states: list[JobState] = []
        self.output = Path()
        self.done_iters: dict[str, int] = {}
        self.first_n = 0
        self.first_work = 0.0
        self.began = time.time()
        self.last_poll = 0.0
        self.bar: tqdm | None = None

    # ---- the numbers ----------------------------------------------------------------------
    def _poll(self, force: bool = False) -> None:
        if not force and time.time() - self.last_poll < POLL_EVERY:
            return
        self.last_poll = time.time()
        for state in self.states:
            if state.status in ("done", "already"):
                self.done_iters[state.job.key] = state.job.iterations
            elif state.status == "running":
                self.done_iters[state.job.key] = state.job.iterations_done(self.output)

    def counts(self) -> dict[str, int]:
        counts = {"done": 0, "running": 0, "failed": 0, "left": 0}
        for state in self.states:
            if state.status in ("done", "already"):
                counts["done"] += 1
            elif state.status in ("running", "failed"):
                counts[state.status] += 1
            else:
                counts["left"] += 1
        return counts

    def totals(self) -> tuple[int, int]:
        """(iterations done, iterations the sweep will do), failed jobs' remainder excluded."""
        done = sum(self.done_iters.values())
        total = sum(
            self.done_iters[s.job.key] if s.status == "failed" else s.job.iterations
            for s in self.states
        )
        return done, total

    def _work(self) -> tuple[float, float]:
        """(work done, work the sweep will do): iterations weighted by each job's cost per
        iteration, so that a PGD job counts for more than an FGSM one."""
        done = total = 0.0
        for s in self.states:
            per_iteration = s.job.work / s.job.iterations
            done += self.done_iters[s.job.key] * per_iteration
            total += per_iteration * (
                self.done_iters[s.job.key] if s.status == "failed" else s.job.iterations
            )
        return done, total

    def eta(self) -> float | None:
        done, total = self._work()
        elapsed = time.time() - self.began
        rate = (done - self.first_work) / elapsed if elapsed > 0 else 0.0
        return (total - done) / rate if rate > 0 else None

    def status_line(self) -> str:
        c = self.counts()
        eta = self.eta()
        return (
            f"{c['done']} done, {c['running']} running, {c['failed']} failed, {c['left']} left"
            + (f", ETA {duration(eta)}" if eta is not None and c["running"] + c["left"] else "")
        )

    # ---- events ---------------------------------------------------------------------------
    def start(self, states: list[JobState], output: Path, description: str) -> None:
        self.states, self.output = states, output
        for state in states:
            self.done_iters[state.job.key] = state.job.iterations_done(output)
        self.first_n, total = self.totals()
        self.first_work = self._work()[0]
        self.began = time.time()
        already = sum(s.status == "already" for s in states)
        self._say(f"sweep: {len(states)} jobs ({already} already done) -> {output}")
        self._say(f"sweep: {description}")
        if self.use_bar:
            self.bar = tqdm(
                total=total,
                initial=self.first_n,
                unit="it",
                desc="sweep",
                file=self.stream,
                dynamic_ncols=True,
                smoothing=0,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} it [{elapsed}{postfix}]",
            )
            self.refresh()

    def job_started(self, state: JobState) -> None:
        if not self.use_bar:
            again = f" (attempt {state.attempts})" if state.attempts > 1 else ""
            self._say(f"start {state.job.key}{again}")

    def job_retrying(self, state: JobState) -> None:
        self._say(f"retry {state.job.key}: attempt {state.attempts} failed: {state.error}")

    def job_ended(self, state: JobState) -> None:
        self._poll(force=True)
        if state.status == "failed":
            self._say(f"FAILED {state.job.key} after {state.attempts} attempt(s): {state.error}")
        else:
            lent = state.job.borrowed_from(self.output) if state.status == "done" else None
            copied = f"  ({lent})" if lent else ""
            self._say(f"done  {state.job.key}{copied}  [{self.status_line()}]")

    def refresh(self) -> None:
        self._poll()
        if self.bar is not None:
            done, total = self.totals()
            self.bar.total = total
            self.bar.n = done
            eta = self.eta()
            self.bar.set_postfix_str(
                self.status_line().replace(", ETA", " | ETA") if eta else self.status_line(),
                refresh=False,
            )
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.refresh()
            self.bar.close()
            self.bar = None

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


def summary(result: SweepResult, output: Path) -> str:
    """The final report: counts, time, and each failure with its error and log."""
    done = result.by_status("done")
    already = result.by_status("already")
    failed = result.by_status("failed")
    retried = [s for s in done if s.attempts > 1]
    lines = [
        f"sweep finished in {duration(result.seconds)}: {len(result.states)} jobs, "
        f"{len(done)} run now, {len(already)} already done, {len(failed)} failed"
        + (f", {len(retried)} succeeded after a retry" if retried else "")
        + f"; results in {output}"
    ]
    for state in failed:
        lines.append(f"  FAILED {state.job.key} after {state.attempts} attempt(s): {state.error}")
        if state.log is not None:
            lines.append(f"         log: {state.log}")
    return "\n".join(lines)
