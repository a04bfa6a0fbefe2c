"""Worker processes started before this process imports torch, for `run --jobs`.

Importing torch takes a few seconds of CPU. A `run` command that will train on several workers
starts them first thing (`prestart`), so that their start-up overlaps with the parent's own
instead of following it; the level pool then takes them (`take`). A worker that is not needed
(one trial, nothing left to do, an error) is told to leave by `release`, or goes when its parent
does. This module must not import torch: that is its point.
"""

from __future__ import annotations

import contextlib
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from robust_tickets.engine import worker

_waiting: list[tuple[BaseProcess, Connection]] = []


def prestart(count: int) -> None:
    """Start `count` idle workers now; each imports the engine while it waits for work."""
    for _ in range(count):
        _waiting.append(worker.spawn())


def take(count: int) -> list[tuple[BaseProcess, Connection]]:
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
