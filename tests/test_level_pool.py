"""The level scheduler: which (trial, level) runs next, and what a failed level does."""

from __future__ import annotations

import pytest
from tests.conftest import small_config

from robust_tickets import device
from robust_tickets.cli.run import early_workers
from robust_tickets.engine import pool, prestart
from robust_tickets.experiment import RunOptions
from robust_tickets.progress import Progress
from robust_tickets.store import experiment_dir, write_json


def run_pool(tmp_path, monkeypatch, trials, levels, fail=None, done=()):
    """A one-worker pool (the parent alone) whose levels only record that they ran."""
    config = small_config(prune_iters=levels - 1)
    exp = experiment_dir(tmp_path, config)
    for trial, level in done:  # levels finished by an earlier run
        level_dir = exp.trial(trial).level(level)
        level_dir.path.mkdir(parents=True, exist_ok=True)
        write_json(level_dir.done, {"level": level})
    ran = []

    def fake_level(config, exp, splits, trial, level, *how):
        if (trial, level) == fail:
            raise RuntimeError("disk full")
        ran.append((trial, level))

    monkeypatch.setattr(pool, "_run_level", fake_level)
    options = RunOptions(output=tmp_path, quiet=True, threads=1)
    levels_pool = pool.LevelPool(
        config, options, exp, None, list(range(trials)), Progress(0, quiet=True), workers=1
    )
    return ran, levels_pool.run()


def test_levels_run_in_order_and_the_trial_with_most_levels_left_goes_first(tmp_path, monkeypatch):
    ran, failed = run_pool(tmp_path, monkeypatch, trials=3, levels=2, done=[(0, 0)])
    assert failed == []
    # trial 0 already finished level 0, so trials 1 and 2 (two levels left) start first
    assert ran == [(1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]
    for trial in range(3):  # every trial's levels in order
        mine = [level for t, level in ran if t == trial]
        assert mine == sorted(mine)


def test_a_failed_level_stops_its_trial_only(tmp_path, monkeypatch, capsys):
    ran, failed = run_pool(tmp_path, monkeypatch, trials=3, levels=3, fail=(1, 1))
    assert failed == [1]
    assert (1, 2) not in ran and (1, 0) in ran
    assert {(t, lv) for t in (0, 2) for lv in range(3)} <= set(ran)
    assert "trial 1 level 1 failed: RuntimeError: disk full" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], 0),  # one trial by default: nothing to share
        (["--trials", "3"], 2),
        (["--trials=9"], 3),  # at most one per core, the command itself included
        (["--trials", "3", "--jobs", "1"], 0),
        (["--trials", "3", "-j", "2"], 1),
        (["--preset", "quick"], 3),  # trials come from the preset: guess high, release later
        (["--config", "exp.yaml", "--trials", "2"], 1),
        (["--trials", "3", "--device", "cuda"], 0),
        (["--trials", "3", "--help"], 0),
        (["--trials", "three"], 0),  # the real parser reports it
    ],
)
def test_workers_started_before_torch_is_imported(monkeypatch, argv, expected):
    monkeypatch.setattr(device, "available_cores", lambda: 4)
    assert early_workers(argv) == expected


def test_a_prestarted_worker_that_is_not_needed_exits():
    prestart.prestart(1)
    ((process, _),) = prestart._waiting
    prestart.release()
    assert prestart._waiting == [] and not process.is_alive()


WORKER_SCRIPT = """
import multiprocessing, sys, time
from robust_tickets.engine.worker import die_with_parent

def busy():
    die_with_parent()
    time.sleep(120)  # a level being trained

if __name__ == "__main__":
    child = multiprocessing.get_context("spawn").Process(target=busy, daemon=True)
    child.start()
    print(child.pid, flush=True)
    time.sleep(120)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as handle:  # a zombie nobody reaped is gone too
            return any(line.split()[:2] == ["State:", "Z"] for line in handle)
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("settle", [0.0, 3.0])  # killed while the worker starts, or once busy
def test_a_worker_dies_with_its_killed_parent(tmp_path, settle):
    import os
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(WORKER_SCRIPT)
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        pid = int(parent.stdout.readline())
        time.sleep(settle)
        parent.kill()  # kill -9: no chance to stop its workers itself
        parent.wait()
        deadline = time.monotonic() + 30
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(pid), "the worker outlived its parent"
    finally:
        parent.kill()
        if not _gone(pid):
            os.kill(pid, 9)
