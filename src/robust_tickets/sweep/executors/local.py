"""Run jobs on this machine, one fresh `spawn`ed worker process per job attempt.

A process per attempt isolates jobs: one that crashes or is killed (out of memory, a signal)
fails alone and is retried, and nothing leaks from one job into the next. Each worker exits
when the sweep process dies (kill -9 included), so a restarted sweep never races an orphan.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any

from robust_tickets.device import available_cores
from robust_tickets.errors import UserError
from robust_tickets.sweep.executors.base import Outcome
from robust_tickets.sweep.jobs import JobSpec, one_line, run_job


class LocalExecutor:
    """`jobs` worker processes at once, each with `cores // jobs` torch threads by default."""

    def __init__(
        self, jobs: int | None = None, threads: int | None = None, device: str | None = None
    ) -> None:
        cores = available_cores()
        if jobs is not None and jobs < 1:
            raise UserError("--jobs must be at least 1")
        if threads is not None and threads < 1:
            raise UserError("--threads must be at least 1")
        self.slots = jobs or cores
        # Jobs share the cores: N jobs each using every core would oversubscribe the CPU.
        self.threads = threads or max(1, cores // self.slots)
        self.device = device or "cpu"
        self.description = (
            f"local: {self.slots} worker process(es), {self.threads} torch thread(s) each, "
            f"device {self.device}"
        )
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        self._running: dict[str, tuple[Any, Connection]] = {}
        self._messages: dict[str, tuple] = {}

    def prepare(self, spec: JobSpec) -> JobSpec:
        return dataclasses.replace(spec, threads=self.threads, device=self.device)

    def submit(self, key: str, spec: JobSpec) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker, args=(spec, sender, os.getpid()), name=f"sweep-job:{key}", daemon=True
        )
        process.start()
        sender.close()  # the child holds its copy; EOF on ours means the child is gone
        self._running[key] = (process, receiver)

    def wait(self, timeout: float) -> list[tuple[str, Outcome]]:
        if not self._running:
            time.sleep(timeout)
            return []
        by_handle: dict[Any, str] = {}
        for key, (process, receiver) in self._running.items():
            by_handle[process.sentinel] = key
            if key not in self._messages:
                by_handle[receiver] = key
        ended = []
        for handle in wait(list(by_handle), timeout):
            key = by_handle[handle]
            process, receiver = self._running[key]
            if handle is receiver:  # read results as they come, so a big one cannot block
                try:
                    self._messages[key] = receiver.recv()
                except (EOFError, OSError):
                    self._messages[key] = ()
                continue
            ended.append(key)
        finished = []
        for key in ended:
            process, receiver = self._running.pop(key)
            process.join()
            message = self._messages.pop(key, None)
            if message is None and receiver.poll():
                try:
                    message = receiver.recv()
                except (EOFError, OSError):
                    message = None
            receiver.close()
            finished.append((key, _outcome(message, process.exitcode)))
        return finished

    def shutdown(self) -> None:
        for process, _ in self._running.values():
            process.terminate()
        for process, receiver in self._running.values():
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
            receiver.close()
        self._running.clear()
        self._messages.clear()


def _outcome(message: tuple | None, exitcode: int | None) -> Outcome:
    if message and message[0] == "ok":
        return Outcome(ok=True, info=message[1])
    if message and message[0] == "error":
        return Outcome(ok=False, error=message[1], detail=message[2])
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        error = f"worker process killed by {name}"
    else:
        error = f"worker process died with exit code {exitcode}"
    return Outcome(ok=False, error=error, detail=error)


def _worker(spec: JobSpec, sender: Connection, parent: int) -> None:
    """A worker process: run one job, send ("ok", info) or ("error", line, traceback)."""
    # Ctrl-C reaches the whole process group; the sweep process decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != parent:  # the sweep died while this process was starting
        os._exit(1)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        message: tuple = ("ok", run_job(spec))
    except BaseException as exc:
        message = ("error", one_line(exc), traceback.format_exc())
    sender.send(message)
    sender.close()


def _exit_with_parent(parent: int) -> None:
    """Without this, a worker of a sweep killed with kill -9 would go on writing its job while
    a restarted sweep (which sees the claim's owner dead) resumes the same job."""
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)
