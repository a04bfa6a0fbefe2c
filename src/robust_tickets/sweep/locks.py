"""Claim files: at most one sweep works on a job at a time, across processes and hosts.

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
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
