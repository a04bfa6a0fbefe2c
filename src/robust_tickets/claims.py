"""Claim files: at most one process (a sweep, or `run`) works on a trial at a time, across
processes and hosts.

A claim is created atomically (``O_CREAT | O_EXCL``) and holds the owner's host, pid, start time
and a random token. The owner refreshes its modification time (a heartbeat); a claim is stale
when its owner is a dead process on this host, or when its heartbeat is older than
`stale_after` seconds (an owner on another host that died or lost the network). A stale claim
is moved aside and checked before it is deleted, so two sweeps breaking it at once cannot both
win.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robust_tickets.errors import UserError

STALE_AFTER = 180.0  # seconds without a heartbeat before another host's claim is broken
HEARTBEAT = 20.0  # seconds between heartbeats (well under STALE_AFTER)
_UNWRITTEN_GRACE = 30.0  # an empty claim file: its owner may be writing it right now


@dataclass(frozen=True)
class Claim:
    path: Path
    token: str


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def read_claim(path: Path) -> dict[str, Any] | None:
    """The claim's content, {} if it is being written or unreadable, None if there is none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        info = json.loads(text)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def is_stale(path: Path, stale_after: float = STALE_AFTER) -> bool:
    info = read_claim(path)
    if info is None:
        return False
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if not info:
        return age > _UNWRITTEN_GRACE
    if age > stale_after:
        return True
    return info.get("host") == socket.gethostname() and not _pid_alive(int(info.get("pid", -1)))


def try_claim(path: Path, stale_after: float = STALE_AFTER) -> Claim | None:
    """Claim `path` for this process; None if a live owner holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):  # the second try follows breaking a stale claim
        token = uuid.uuid4().hex
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not (is_stale(path, stale_after) and _break(path, stale_after)):
                return None
            continue
        info = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
        with os.fdopen(fd, "w") as handle:
            json.dump({**info, "token": token}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        return Claim(path, token)
    return None


def _break(path: Path, stale_after: float) -> bool:
    """Remove a stale claim; False if it turned out to be someone's fresh claim."""
    aside = path.with_name(f"{path.name}.{uuid.uuid4().hex}.stale")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return True  # someone else removed it: try to create ours
    if is_stale(aside, stale_after):
        aside.unlink(missing_ok=True)
        return True
    # we moved a live claim created in between: put it back unless replaced again
    with contextlib.suppress(FileExistsError):
        os.link(aside, path)
    aside.unlink(missing_ok=True)
    return False


def clear_stale(path: Path, stale_after: float = STALE_AFTER) -> None:
    """Remove `path` if it is a stale claim (e.g. of a job finished just before a crash)."""
    if path.exists() and is_stale(path, stale_after):
        _break(path, stale_after)


def heartbeat(claim: Claim) -> bool:
    """Refresh the claim; False if it is no longer ours (broken by another sweep)."""
    info = read_claim(claim.path)
    if not info or info.get("token") != claim.token:
        return False
    now = time.time()
    try:
        os.utime(claim.path, (now, now))
    except FileNotFoundError:
        return False
    return True


def release(claim: Claim) -> None:
    """Delete the claim if it is still ours."""
    info = read_claim(claim.path)
    if info and info.get("token") == claim.token:
        claim.path.unlink(missing_ok=True)


# ---- claims of an experiment's trials ----------------------------------------------------
STORE_AREA = ".sweep"  # the store's own area for claims and sweep logs


def trial_claim_path(output: Path, experiment_name: str, trial: int) -> Path:
    return output / STORE_AREA / "locks" / f"{experiment_name}.trial_{trial}.lock"


@contextlib.contextmanager
def claimed(output: Path, experiment_name: str, trials: Iterable[int]) -> Iterator[None]:
    """Hold the claims of these trials, with a heartbeat, while the body runs.

    `robust-tickets run` takes the same claim files as sweeps, so a `run` and a sweep (or two
    `run`s) never write one trial at once; the one that comes second gets a UserError naming
    the holder. A sweep's own workers do not: their driver holds them."""
    taken: list[Claim] = []
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(taken, stop), daemon=True)
    try:
        for trial in trials:
            path = trial_claim_path(output, experiment_name, trial)
            claim = try_claim(path)
            if claim is None:
                info = read_claim(path) or {}
                raise UserError(
                    f"trial {trial} of {experiment_name} is being run by another process (pid "
                    f"{info.get('pid', '?')} on {info.get('host', '?')}): wait for it to finish "
                    f"or run other trials (--first-trial); if no such process exists, delete {path}"
                )
            taken.append(claim)
        beat.start()
        yield
    finally:
        stop.set()
        if beat.is_alive():
            beat.join()
        for claim in taken:
            release(claim)


def _beat(claims: list[Claim], stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT):
        for claim in claims:
            heartbeat(claim)
