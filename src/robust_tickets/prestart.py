"""Worker processes started before this process imports torch, for `run --jobs`.

Importing torch takes a few seconds of CPU. A `run` command that will train on several workers
starts them first thing (`prestart`), so that their start-up overlaps with the parent's own
instead of following it; the caller names what they run (`robust_tickets.level_pool.worker`) and
hands them their work. A worker that
is not needed (one trial, nothing left to do, an error) is told to leave by `release`, or goes
when its parent does. This module must not import torch: that is its point.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

_waiting: list[tuple[Any, Connection]] = []


def prestart(count: int, target: str) -> None:
    """Start `count` idle workers now (spawned, never forked: the parent will run torch).

    `target` ("module:function") is what each will run, ``function(*first_message, conn)``;
    the worker imports its module (torch with it) while it waits for that first message. It is
    named rather than imported so that this low module depends on nothing above it."""
    context = multiprocessing.get_context("spawn")
    for _ in range(count):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_wait_for_work, args=(child_end, target), daemon=True)
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


def die_with_parent() -> None:
    """End this worker the moment its parent dies (even by kill -9): an orphan would go on
    writing its trial while a rerun takes over the trial's claim. Linux: the kernel sends
    SIGKILL (prctl PR_SET_PDEATHSIG; writes are atomic, so nothing is left half-written);
    elsewhere a thread checks the parent every 0.2 s."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent.pid:
            time.sleep(0.2)
        os._exit(1)

    if os.getppid() != parent.pid:  # it died before the line above took effect
        os._exit(1)
    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def _wait_for_work(conn: Connection, target: str) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    module, function = target.split(":")
    work = getattr(importlib.import_module(module), function)  # torch: the slow part, now
    try:
        first = conn.recv()  # (config, options), or None: not needed after all
    except EOFError:
        return
    if first is not None:
        work(*first, conn)
