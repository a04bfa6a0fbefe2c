"""A worker process of the level pool: how it is started, and how it ends with its parent.

Importing this module is cheap (no torch): `run` starts its workers before it imports torch
(prestart.py), and each worker imports the engine (torch with it) itself, while it waits for
its first message; see worker_loop.py for what it then does.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def spawn() -> tuple[BaseProcess, Connection]:
    """Start a worker (spawned, never forked: the parent runs torch); it and the parent's end of
    its pipe. Send it (config, options) first, or None if it is not needed after all."""
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    process = context.Process(target=_main, args=(child_end,), daemon=True)
    process.start()
    child_end.close()
    return process, parent_end


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


def _main(conn: Connection) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # torch, the slow part, now: while the parent starts up too. Imported here, not at the top,
    # so that starting a worker costs its parent nothing.
    from robust_tickets.engine.worker_loop import run_levels

    try:
        first = conn.recv()  # (config, options), or None: not needed after all
    except EOFError:
        return
    if first is not None:
        run_levels(*first, conn)
