"""Drive a sweep: claim each unfinished job, hand it to an executor, retry failures (bounded),
and keep going until every job is done, failed for good, or finished by another sweep.

Claims are taken by this (driver) process, whatever the executor, so one heartbeat covers every
running job and a sweep killed with kill -9 leaves claims whose owner is visibly dead.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from robust_tickets import claims as locks
from robust_tickets.store import atomic_write_text
from robust_tickets.sweep.executors.base import Executor, Outcome
from robust_tickets.sweep.jobs import Job, JobSpec, lock_path, log_path, store_identity
from robust_tickets.sweep.progress import View
from robust_tickets.sweep.state import JobState, SweepResult

BLOCKED_RECHECK = 10.0  # seconds between looks at a job another sweep holds


def run_sweep(
    jobs: list[Job],
    executor: Executor,
    output: Path,
    *,
    retries: int = 2,
    data_dir: str | None = None,
    view: View | None = None,
    stale_after: float = locks.STALE_AFTER,
    borrow_level0: bool = True,
) -> SweepResult:
    """Run every job not yet complete in `output`; returns each job's final state. With
    `borrow_level0`, a job copies its level 0 from a sibling that finished it
    (`engine.borrow`), and jobs are started so that one of a group sharing a level 0 trains
    it before the others start (`_take`), a job keeping a snapshot of it (which can lend to
    all of them, and borrow only from its like) first."""
    view = view or View()
    output.mkdir(parents=True, exist_ok=True)
    store_id = store_identity(output)
    states = {job.key: JobState(job) for job in jobs}
    for state in states.values():
        if state.job.is_complete(output):
            state.status = "already"
            locks.clear_stale(lock_path(output, state.job), stale_after)
    groups: dict[str, Level0] = {}
    if borrow_level0:
        groups = {k: (s.job.level0_group(), s.job.rewind_step()) for k, s in states.items()}
    # Trial by trial (a long sweep has one trial of everything early), longest jobs first so
    # that short ones fill the gaps at the end; with borrowing, of equals a job that keeps a
    # snapshot of level 0 first (it can lend that level 0 to the others, not they to it).
    pending = deque(
        sorted(
            (s for s in states.values() if s.status == "pending"),
            key=lambda s: (
                s.job.trial,
                -s.job.iterations,
                s.job.key in groups and groups[s.job.key][1] is None,
            ),
        )
    )
    blocked: dict[str, float] = {}  # key -> when to look again
    claims: dict[str, locks.Claim] = {}
    began = time.time()
    last_beat = began
    view.start(list(states.values()), output, executor.description)

    def finish(state: JobState, status: str, outcome: Outcome | None = None) -> None:
        state.status = status
        if outcome is not None:
            state.error = outcome.error
        view.job_ended(state)

    try:
        while pending or claims or blocked:
            now = time.time()
            for key, when in list(blocked.items()):
                if when <= now:
                    del blocked[key]
                    pending.appendleft(states[key])
            while pending and len(claims) < executor.slots:
                state = _take(pending, _training_level0(claims, states, groups, output), groups)
                if state.job.is_complete(output):
                    finish(state, "done")  # finished by another sweep meanwhile
                    continue
                claim = locks.try_claim(lock_path(output, state.job), stale_after)
                if claim is None:
                    state.status = "blocked"
                    blocked[state.job.key] = now + BLOCKED_RECHECK
                    continue
                if state.job.is_complete(output):  # finished between the check and the claim
                    locks.release(claim)
                    finish(state, "done")
                    continue
                claims[state.job.key] = claim
                state.status, state.attempts = "running", state.attempts + 1
                spec = JobSpec(
                    state.job.config,
                    state.job.trial,
                    str(output),
                    store_id,
                    data_dir,
                    borrow_level0=borrow_level0,
                )
                executor.submit(state.job.key, executor.prepare(spec))
                view.job_started(state)
            for key, outcome in executor.wait(timeout=1.0):
                state = states[key]
                locks.release(claims.pop(key))
                if outcome.ok and state.job.is_complete(output):
                    state.seconds += float(outcome.info.get("seconds", 0.0))
                    finish(state, "done")
                    continue
                if outcome.ok:  # should not happen; treat as a failure rather than trust it
                    outcome = Outcome(ok=False, error="job ended but its trial is incomplete")
                state.log = log_path(output, state.job, state.attempts)
                detail = outcome.detail or outcome.error
                atomic_write_text(state.log, f"{state.job.key}\n{detail}\n")
                if state.attempts <= retries:
                    state.status, state.error = "pending", outcome.error
                    pending.append(state)
                    view.job_retrying(state)
                else:
                    finish(state, "failed", outcome)
            if time.time() - last_beat > locks.HEARTBEAT:
                last_beat = time.time()
                for claim in claims.values():
                    locks.heartbeat(claim)
            view.refresh()
    finally:
        executor.shutdown()
        for claim in claims.values():
            locks.release(claim)
        view.close()
    result = SweepResult(list(states.values()), time.time() - began)
    for state in result.states:
        result.counts[state.status] = result.counts.get(state.status, 0) + 1
    return result


# a job's level 0: its group (`Job.level0_group`: trial and level-0 settings) and the step of
# the snapshot it keeps (None: none)
Level0 = tuple[str, int | None]


def _lends(lender: Level0, borrower: Level0) -> bool:
    """Whether a job's level 0, once finished, can be copied by another (`engine.borrow`)."""
    return lender[0] == borrower[0] and (borrower[1] is None or lender[1] == borrower[1])


def _training_level0(
    claims: dict[str, locks.Claim],
    states: dict[str, JobState],
    groups: dict[str, Level0],
    output: Path,
) -> list[Level0]:
    """The level 0s this sweep's running jobs are training now (not finished yet)."""
    if not groups:
        return []
    return [groups[key] for key in claims if not states[key].job.level0_done(output)]


def _take(pending: deque[JobState], training: list[Level0], groups: dict[str, Level0]) -> JobState:
    """The next job to start: the first in order that no running job is training a level 0
    for right now (it will copy that level 0 once finished instead of training it again), else
    the first (a free slot is not left idle)."""
    for index, state in enumerate(pending):
        mine = groups.get(state.job.key)
        if mine is None or not any(_lends(lender, mine) for lender in training):
            del pending[index]
            return state
    return pending.popleft()
