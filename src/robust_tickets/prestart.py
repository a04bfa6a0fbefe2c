"""Worker processes started before this process imports torch, for `run --jobs`.

Importing torch takes a few seconds of CPU. A `run` command that will train on several workers
starts them first thing (`prestart`), so that their start-up overlaps with the parent's own
instead of following it; `robust_tickets.level_pool` then hands them their work. A worker that
is not needed (one trial, nothing left to do, an error) is told to leave by `release`, or goes
when its parent does. This module must not import torch: that is its point.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from typing import Any

_waiting: list[tuple[Any, Connection]] = []


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def prestart(count: int) -> None:
    """Start `count` idle workers now (spawned, never forked: the parent will run torch)."""
    context = multiprocessing.get_context("spawn")
    for _ in range(count):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_wait_for_work, args=(child_end,), daemon=True)
        process.start()
        child_end.close()
        _waiting.append((process, parent_end))


def take(count: int) -> list[tuple[Any, Connection]]:
    """Up to `count` prestarted workers, now the caller's to use (and to stop)."""
    taken = _waiting[:count]
    del _waiting[:count]
    return taken


def release() -> None:
    """Tell every prestarted worker nobody took that it can go."""
    while _waiting:
        process, conn = _waiting.pop()
        with contextlib.suppress(OSError):  # it may have gone already
            conn.send(None)
        conn.close()
        process.join(timeout=5)
        if process.is_alive():  # still importing torch, say: no need to wait for it
            process.terminate()
            process.join()


def _wait_for_work(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from robust_tickets import level_pool  # imports torch: the slow part, done while waiting

    try:
        first = conn.recv()  # (config, options), or None: not needed after all
    except EOFError:
        return
    if first is not None:
        level_pool.worker(*first, conn)
