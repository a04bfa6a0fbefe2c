"""Killing a run (SIGKILL or Ctrl-C) and running the same command again equals never stopping.
The pooled run's Ctrl-C test is marked slow (scripts/test.sh runs it in CI only)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robust_tickets.results import iter_rows
from robust_tickets.store import find_experiments

FLAGS = [
    "--train-iters",
    "40",
    "--eval-every",
    "10",
    "--prune-iters",
    "1",
    "--adv-train",
    "--attack",
    "pgd",
    "--steps",
    "3",
    "--strategy",
    "rewind",
    "--rewind-iter",
    "15",
    "--seed",
    "11",
    "--valid-size",  # small evaluations: resuming is the point, not accuracy
    "1000",
    "--test-size",
    "500",
    "--quiet",
]


def _start(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "robust_tickets", "run", *FLAGS, "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(
    out: Path, pattern: str, proc: subprocess.Popen, lines: int, timeout: float = 300
) -> None:
    """Until a file matching `pattern` has at least `lines` lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in out.glob(pattern):
            if len(path.read_text().splitlines()) >= lines:
                return
        if proc.poll() is not None:
            pytest.fail(f"run ended before {pattern} appeared: {proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail(f"{pattern} never appeared")


def _snapshot(out: Path):
    rows = sorted(iter_rows(out), key=lambda r: (r["level"], r["iteration"], r["split"]))
    (exp,) = find_experiments(out)
    tensors = {p.relative_to(exp.path): p.read_bytes() for p in exp.path.rglob("*.safetensors")}
    return rows, tensors


@pytest.fixture(scope="module")
def reference(tmp_path_factory, fashion):
    """What the same command writes when it is never interrupted."""
    out = tmp_path_factory.mktemp("reference")
    done = subprocess.run(
        [sys.executable, "-m", "robust_tickets", "run", *FLAGS, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return _snapshot(out)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_resume_equals_uninterrupted(tmp_path, reference, sig):

    out = tmp_path / "killed"
    proc = _start(out)
    # Stop it mid-way through level 1: once its evaluation at iteration 10 is on disk.
    _wait_for(out, "*/trial_0/level_01/metrics.csv", proc, lines=5)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "run the same command again to resume" in proc.stderr.read()
    assert not list(out.glob("*/trial_0/level_01/done.json")), "killed too late to test resume"

    resumed = subprocess.run(
        [sys.executable, "-m", "robust_tickets", "run", *FLAGS, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert _snapshot(out) == reference
    assert not list(out.rglob("*.tmp"))


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # the parent pid
            found.add(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ctrl_c_on_a_pooled_run_stops_every_worker_and_resumes(tmp_path, fashion):
    flags = ["--trials", "2", "--jobs", "2", "--train-iters", "200", "--eval-every", "100"]
    flags += ["--prune-iters", "1", "--adv-train", "--valid-size", "1000", "--test-size", "500"]
    flags += ["--quiet", "-o", str(tmp_path)]
    command = [sys.executable, "-m", "robust_tickets", "run", *flags]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    _wait_for(tmp_path, "*/trial_*/level_00/metrics.csv", proc, lines=3)
    workers = _children(proc.pid)
    assert workers, "the pooled run should have a worker process"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode == 130 and "run the same command again" in proc.stderr.read()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alive = {pid for pid in workers if _running(pid)}
        if not alive:
            break
        time.sleep(0.1)
    assert not alive, "a worker outlived the interrupted command"
    assert not list(tmp_path.glob("*/trial_*/level_01/done.json")), "interrupted too late"

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert len(list(tmp_path.glob("*/trial_*/level_*/done.json"))) == 4
    assert not list(tmp_path.rglob("*.tmp"))
