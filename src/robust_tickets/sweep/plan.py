"""What `sweep --dry-run` prints: every job, its cost, and whether it is already done."""

from __future__ import annotations

from pathlib import Path

from robust_tickets import claims as locks
from robust_tickets.engine.borrow import Sibling, siblings
from robust_tickets.sweep.estimate import Estimator
from robust_tickets.sweep.jobs import Job, lock_path
from robust_tickets.sweep.progress import duration


def job_status(
    job: Job, output: Path, borrow: bool = True, store: list[Sibling] | None = None
) -> tuple[str, int]:
    """("done" | "running on HOST" | "partly done" | "to run", iterations already done or to
    be copied from a sibling that finished them, `engine.borrow`, when `borrow`; `store`: the
    output's `siblings`, read once for many jobs)."""
    done = job.iterations_done(output)
    if job.is_complete(output):
        return "done", job.iterations
    claim = lock_path(output, job)
    info = locks.read_claim(claim)
    if info and not locks.is_stale(claim):
        return f"running on {info.get('host')} (pid {info.get('pid')})", done
    status = "partly done" if done else "to run"
    lent, lender = job.lendable(output, store) if borrow else (0, "")
    if lent and lent * job.iterations // job.levels > done:
        done = lent * job.iterations // job.levels
        levels = "level 0" if lent == 1 else f"levels 0-{lent - 1}"
        status += f" ({levels} to copy from {lender})"
    return status, done


def plan_lines(
    jobs: list[Job],
    output: Path,
    estimator: Estimator | None,
    slots: int | None,
    borrow: bool = True,
) -> list[str]:
    width = max(len(job.key) for job in jobs)
    header = f"{'job':<{width}}  levels  {'iterations':>11}  {'est. time':>9}  status"
    lines = [header]
    left_iters, left_seconds, n_done, lending = 0, 0.0, 0, False
    store = siblings(output) if borrow else []
    for job in jobs:
        status, done = job_status(job, output, borrow, store)
        lending = lending or "to copy from" in status
        n_done += status == "done"
        share = 1 - done / job.iterations
        seconds = estimator.seconds(job) * share if estimator and share > 0 else None
        left_iters += job.iterations - done
        left_seconds += seconds or 0.0
        shown = duration(seconds) if seconds is not None else "-"
        lines.append(
            f"{job.key:<{width}}  {job.levels:>6}  {job.iterations:>11,}  {shown:>9}  {status}"
        )
    lines.append(
        f"{len(jobs)} jobs: {n_done} done, {len(jobs) - n_done} to run; "
        f"{left_iters:,} training iterations left"
        + (" (levels a sibling will lend not counted)" if lending else "")
    )
    if estimator is not None and left_seconds > 0:
        text = f"estimated {duration(left_seconds)} of job time {estimator.basis()}"
        # jobs at once divide the time on CPU cores, not on one GPU they would share
        slots = min(slots or 0, len(jobs) - n_done)
        if slots > 1 and not estimator.device.startswith("cuda"):
            text += f"; ~{duration(left_seconds / slots)} with {slots} jobs at once"
        lines.append(text)
    return lines
