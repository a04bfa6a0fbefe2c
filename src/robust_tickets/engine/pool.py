"""The levels of several trials on a pool of worker processes (CPU).

A trial's levels run in order (each starts from the previous level's files), but trials are
independent, so the unit of work is one (trial, level). The next level of the trial with the most
levels left goes to whichever worker is free, which keeps every worker busy to the end: 3 trials
x 2 levels on 2 workers take 3 level-times, not 4 (as whole trials per process would).

The parent process is one of the workers, so a run with N workers pays for N Python/torch
start-ups, not N + 1. Scheduling waits on the workers (`multiprocessing.connection.wait`): while
the parent trains a level of its own, a thread of it does that waiting (and moves the bar from
the trials' files), so its children get new work as soon as they finish, whatever the parent's
level is doing. The thread touches the pool's bookkeeping only while it runs, the main thread
only when it does not. Every worker trains with the same thread count, so the results equal a
sequential run's.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import sys
import threading
from collections.abc import Iterator
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

import torch

from robust_tickets.config import ExperimentConfig
from robust_tickets.data import Splits
from robust_tickets.engine import prestart, worker
from robust_tickets.engine.borrow import borrowed_record, describe
from robust_tickets.engine.options import RunOptions
from robust_tickets.engine.trial import TrialRunner
from robust_tickets.progress import Progress
from robust_tickets.schedule import num_levels
from robust_tickets.store import ExperimentDir, iterations_done, remove_stale_temps

POLL_SECONDS = 0.5  # how often the bar follows the trials' files while every worker is busy


def _run_level(
    config: ExperimentConfig,
    exp: ExperimentDir,
    splits: Splits,
    trial: int,
    level: int,
    borrow_level0: bool,
    data_files: bool,
) -> None:
    """A level trained by the parent itself (its children show on the bar from their files)."""
    quiet = Progress(0, quiet=True)
    cpu = torch.device("cpu")
    runner = TrialRunner(
        config, exp, trial, splits, cpu, quiet, borrow_level0=borrow_level0, data_files=data_files
    )
    runner.run_level(level)


def trial_status(exp: ExperimentDir, trial: int, level: int) -> str:
    """`L03 51.3% .812/.640`: the level a trial is running, the percent of weights left and
    its latest test (or validation) accuracy, natural/adversarial, read from its files."""
    level_dir = exp.trial(trial).level(level)
    text = f"L{level:02d}"
    if not level_dir.info.is_file():  # e.g. a worker still importing torch
        return f"{text} starting"
    try:
        text += f" {float(json.loads(level_dir.info.read_text())['remaining']):.1f}%"
        lines = level_dir.metrics.read_text().splitlines()
        rows = list(csv.DictReader([lines[0], *lines[-2:]])) if len(lines) > 1 else []
        last = {row["split"]: row for row in rows}
        row = last.get("test") or last.get("valid")
        if row is not None:
            text += f" {float(row['acc']):.3f}/{float(row['adv_acc']):.3f}"
    except (OSError, ValueError, KeyError, TypeError, csv.Error):
        pass  # not written yet, or being replaced right now: the next poll shows it
    return text


class LevelPool:
    """Runs every remaining level of `todo` on `workers` processes (the parent included)."""

    def __init__(
        self,
        config: ExperimentConfig,
        options: RunOptions,
        exp: ExperimentDir,
        splits: Splits,
        todo: list[int],
        progress: Progress,
        workers: int,
        *,
        data_files: bool = False,
    ) -> None:
        self.config, self.exp, self.splits, self.todo = config, exp, splits, todo
        self.progress, self.levels = progress, num_levels(config)
        self.next_level = {t: self._first_undone(t) for t in todo}
        self.busy: set[int] = set()  # trials with a level running (here or in a child)
        self.running: dict[int, Connection] = {}  # ... of which those running in a child
        self.failed: list[int] = []
        self.threads = options.threads or 1
        self.borrow_level0 = options.borrow_level0
        self.data_files = data_files  # the parent's splits are the dataset's files
        child_options = dataclasses.replace(options, jobs=1, quiet=True, threads=self.threads)
        # workers the command started before importing torch (engine.prestart) first
        self.children: list[tuple[BaseProcess, Connection]] = prestart.take(workers - 1)
        while len(self.children) < workers - 1:
            self.children.append(worker.spawn())
        for _, conn in self.children:
            conn.send((config, child_options))
        self.idle: list[Connection] = [conn for _, conn in self.children]
        self.shown = 0.0  # work on the bar from these trials (see `_update_bar`)
        self._update_bar()

    def _first_undone(self, trial: int) -> int:
        trial_dir = self.exp.trial(trial)
        if trial_dir.path.is_dir():
            remove_stale_temps(trial_dir.path)  # e.g. a rewind snapshot cut short by kill -9
        level = 0
        while level < self.levels and trial_dir.level(level).is_done():
            level += 1
        return level

    def _ready(self) -> list[int]:
        """Trials whose next level can start, the one with most levels left first."""
        waiting = [
            t
            for t in self.todo
            if t not in self.busy and t not in self.failed and self.next_level[t] < self.levels
        ]
        return sorted(waiting, key=lambda t: (self.next_level[t] - self.levels, t))

    def _finish(self, trial: int, ok: bool) -> None:
        self.busy.discard(trial)
        if ok:
            # a worker's level may have been copied from a sibling (`engine.borrow`): say so
            record = borrowed_record(self.exp.trial(trial).level(self.next_level[trial]))
            if record is not None:
                self.progress.write(describe(record))
            self.next_level[trial] += 1
        else:
            self.failed.append(trial)

    def _collect(self, timeout: float | None, wake: Connection | None = None) -> None:
        """Wait up to `timeout` s for a busy child to report (or for `wake`), then take in
        every report there is."""
        busy = [c for _, c in self.children if c not in self.idle]
        waited = [*busy, wake] if wake is not None else busy
        for conn in wait(waited, timeout=timeout) if waited else []:
            if conn is wake:
                continue
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the child died without a word (killed, out of memory)
                dead = [t for t, c in self.running.items() if c is conn]
                for trial in dead:
                    self.running.pop(trial)
                    self._finish(trial, ok=False)
                self.children = [(p, c) for p, c in self.children if c is not conn]
                continue
            trial = message[1]
            self.running.pop(trial, None)
            self._finish(trial, ok=message[0] == "done")
            self.idle.append(conn)

    def _dispatch(self) -> None:
        for trial in self._ready():
            if not self.idle:
                return
            conn = self.idle.pop()
            self.busy.add(trial)
            self.running[trial] = conn
            conn.send((trial, self.next_level[trial]))

    def _update_bar(self) -> None:
        """Move the bar to the work the trials' files show, evaluations counted."""
        work = self.progress.work
        done = [iterations_done(self.exp, self.config, t) for t in self.todo]
        now = sum(work.on_disk(d) for d in done) if work is not None else float(sum(done))
        self.progress.advance_work(now - self.shown)
        self.shown = now

    def serve(self, timeout: float | None = 0.0, wake: Connection | None = None) -> None:
        """Take in the children's reports (waiting up to `timeout` s for one), give the free
        ones new levels, and show where every trial is."""
        self._collect(timeout, wake)
        self._dispatch()
        self._update_bar()
        # what a single trial's bar shows (level, % left, accuracies), for each trial running
        self.progress.show(
            **{f"t{t}": trial_status(self.exp, t, self.next_level[t]) for t in sorted(self.busy)}
        )

    @contextlib.contextmanager
    def _children_served(self) -> Iterator[None]:
        """While the parent trains: a thread serves the children (until woken to stop)."""
        if not self.children:
            yield
            return
        wake, stop = Pipe(duplex=False)
        errors: list[BaseException] = []

        def serve_until_stopped() -> None:
            try:
                while not wake.poll():
                    self.serve(timeout=POLL_SECONDS, wake=wake)
            except BaseException as error:  # a bug: raised again in the main thread
                errors.append(error)

        thread = threading.Thread(target=serve_until_stopped, name="level-pool", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.send(None)
            thread.join()
            wake.close()
            stop.close()
        if errors:
            raise errors[0]

    def _run_own(self, trial: int, level: int) -> bool:
        """Train a level in this process; whether it finished (a failure stops its trial only)."""
        try:
            _run_level(
                self.config,
                self.exp,
                self.splits,
                trial,
                level,
                self.borrow_level0,
                self.data_files,
            )
        except Exception as error:
            print(
                f"trial {trial} level {level} failed: {type(error).__name__}: {error}",
                file=sys.stderr,
            )
            return False
        return True

    def run(self) -> list[int]:
        """Run everything; returns the trials that failed."""
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            while True:
                self.serve()
                ready = self._ready()
                if ready:  # the parent takes a level itself
                    trial = ready[0]
                    level = self.next_level[trial]
                    self.busy.add(trial)
                    with self._children_served():
                        ok = self._run_own(trial, level)
                    self._finish(trial, ok)
                elif self.busy:
                    self.serve(timeout=POLL_SECONDS)
                else:
                    break
        finally:
            torch.set_num_threads(previous_threads)
            for process, conn in self.children:
                if conn in self.idle:  # its work is on disk: let it exit in its own time
                    with contextlib.suppress(OSError):  # a child that already died
                        conn.send(None)
                else:  # still training (Ctrl-C, or an error here): stop it now
                    process.terminate()
                    process.join()
        return self.failed
