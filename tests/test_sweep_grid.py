"""Sweep grids, claims and the dry run: fast tests that train nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import one_line_error

from robust_tickets import claims as locks
from robust_tickets.cli.main import main
from robust_tickets.config import PRESETS
from robust_tickets.errors import UserError
from robust_tickets.pruning import STRATEGIES
from robust_tickets.resolve import from_flat
from robust_tickets.sweep import expand, load_grid
from robust_tickets.sweep.jobs import Job, lock_path

ROOT = Path(__file__).resolve().parents[1]


def points(jobs: list[Job], *fields: str) -> list[tuple]:
    return [(*(job.config.flat()[f] for f in fields), job.trial) for job in jobs]


# ---- expansion --------------------------------------------------------------------------
def test_axes_expand_to_their_product_in_order_over_the_base():
    jobs = expand(
        {
            "base": {"train_iters": 7, "eval_every": 7},
            "axes": {"attack": ["fgsm", "pgd"], "eps": [0.1, 0.2, 0.3], "trial": [0, 4]},
        }
    )
    assert len(jobs) == 2 * 3 * 2
    assert points(jobs, "attack", "eps") == [
        (a, e, t) for a in ("fgsm", "pgd") for e in (0.1, 0.2, 0.3) for t in (0, 4)
    ]
    assert {j.config.train.train_iters for j in jobs} == {7}
    # each job is exactly the config `run` would build from the same fields
    assert jobs[3].config == from_flat({"train_iters": 7, "eval_every": 7, "eps": 0.2})
    assert len({j.key for j in jobs}) == len(jobs)


def test_trials_come_from_base_or_preset_when_there_is_no_trial_axis():
    assert [j.trial for j in expand({"base": {"trials": 3}})] == [0, 1, 2]
    assert [j.trial for j in expand({"base": {"preset": "quick"}})] == [0, 1]  # the preset's
    assert [j.trial for j in expand({"base": {"preset": "quick"}, "axes": {"trial": [5]}})] == [5]
    assert [j.trial for j in expand({})] == [0]


def test_overrides_set_fields_only_where_they_match_even_by_alias():
    jobs = expand(
        {
            "axes": {"strategy": ["reset", "rewind", "no_pruning"]},
            "overrides": [
                {"when": {"strategy": "late_reset"}, "set": {"rewind_iter": 40}},
                {"when": {"strategy": ["dense", "reset"]}, "set": {"prune_iters": 2}},
            ],
        }
    )
    got = points(jobs, "strategy", "rewind_iter", "prune_iters")
    # dense never prunes, so its prune_iters is normalised to 0 (one directory per experiment)
    assert got == [("reset", 0, 2, 0), ("rewind", 40, 20, 0), ("dense", 0, 0, 0)]


def test_exclude_drops_matching_points_and_include_adds_points():
    jobs = expand(
        {
            "axes": {"dataset": ["mnist", "fashion_mnist"], "attack": ["fgsm", "pgd"]},
            "exclude": [{"dataset": "mnist", "attack": "pgd"}, {"trial": 1, "attack": "fgsm"}],
            "include": [{"attack": "pgd", "eps": 0.1, "trial": [7]}],
            "base": {"trials": 2},
        }
    )
    assert points(jobs, "dataset", "attack", "eps") == [
        ("mnist", "fgsm", 0.3, 0),
        ("fashion_mnist", "fgsm", 0.3, 0),
        ("fashion_mnist", "pgd", 0.3, 0),
        ("fashion_mnist", "pgd", 0.3, 1),
        ("fashion_mnist", "pgd", 0.1, 7),
    ]


def test_aliases_naming_the_same_job_give_it_once():
    jobs = expand({"axes": {"strategy": ["rewind_trained", "reinit_orig"], "trial": [0, 1]}})
    assert points(jobs, "strategy") == [("rewind_trained", 0), ("rewind_trained", 1)]


BAD_GRIDS = [
    ("[1, 2]", "must hold a mapping"),
    ("axis: {attack: [fgsm]}", "unknown key(s) axis"),
    ("axes: {atack: [fgsm]}", "axes.atack is not a config field"),
    ("axes: {attack: fgsm}", "axes.attack must be a non-empty list"),
    ("axes: {attack: []}", "axes.attack must be a non-empty list"),
    ("axes: {trial: [0, -1]}", "trials must be integers >= 0"),
    ("base: {preset: huge}", "unknown preset 'huge'"),
    ("base: {train_iter: 5}", "unknown config field(s) train_iter"),
    ("base: {trials: 0}", "base.trials must be a positive integer"),
    ("axes: {attack: [fgsm, cw]}", "point (attack=cw): unknown attack 'cw'"),
    ("axes: {train_iters: [10, 0]}", "train_iters must be at least 1"),
    ("axes: {eps: [0.1, big]}", "eps must be a number"),
    ("overrides: [{when: {attack: pgd}}]", "exactly the keys `when` and `set`"),
    ("overrides: [{when: {attack: pgd}, set: {stepz: 3}}]", "unknown config field(s) stepz"),
    ("exclude: {attack: pgd}", "exclude must be a list"),
    ("exclude: [{attack: cw}]", "unknown attack 'cw'"),
    ("axes: {attack: [pgd]}\nexclude: [{attack: pgd}]", "the grid has no jobs"),
    ("axes: [attack: [fgsm]", "not valid YAML at line"),
]


@pytest.mark.parametrize(("text", "message"), BAD_GRIDS)
def test_bad_grid_files_give_one_line_errors(tmp_path, text, message):
    path = tmp_path / "grid.yaml"
    path.write_text(text + "\n")
    with pytest.raises(UserError) as info:
        load_grid(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_grid_through_the_cli_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "grid.yaml"
    path.write_text("axes: {strategy: [reset, sometimes]}\n")
    code = main(["sweep", str(path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "unknown strategy 'sometimes'" in err
    assert not (tmp_path / "out").exists()


# ---- the shipped grids ------------------------------------------------------------------
def test_paper_grid_is_exactly_the_papers_full_grid():
    jobs = load_grid(ROOT / "configs" / "paper.yaml")
    combos = points(jobs, "dataset", "attack", "adv_train", "strategy")
    expected = {
        (d, a, adv, s, t)
        for d in ("mnist", "fashion_mnist")
        for a in ("fgsm", "pgd")
        for adv in (False, True)
        for s in ("rewind_trained", "random", "continue", "dense")
        for t in range(5)
    }
    assert len(jobs) == 160 and set(combos) == expected
    paper = from_flat(PRESETS["paper"])  # what the original code ran
    for job in jobs:
        differs = {
            k
            for k, v in job.config.flat().items()
            if v != paper.flat()[k] and k not in ("dataset", "attack", "adv_train", "strategy")
        }
        differs.discard("objective")  # what adv_train implies: natural or the paper's mixed
        if job.config.prune.strategy.name == "dense":  # one level: prune_iters is normalised to 0
            differs.discard("prune_iters")
        assert not differs, differs
    assert {j.levels for j in jobs if j.config.prune.strategy.name != "dense"} == {21}
    assert {j.levels for j in jobs if j.config.prune.strategy.name == "dense"} == {1}


def test_quick_grid_covers_every_strategy_and_both_attacks_and_is_small():
    jobs = load_grid(ROOT / "configs" / "quick.yaml")
    assert {j.config.prune.strategy.name for j in jobs} == set(STRATEGIES.names())
    assert {j.config.attack.attack.name for j in jobs} == {"fgsm", "pgd"}
    assert sum(j.iterations for j in jobs) <= 20_000
    rewind = [j for j in jobs if j.config.prune.strategy.name == "rewind"]
    assert all(j.config.prune.strategy.params.iter > 0 for j in rewind)  # else it would be `reset`


def test_dry_run_lists_the_paper_grid_and_marks_done_jobs(tmp_path, capsys):
    jobs = load_grid(ROOT / "configs" / "paper.yaml")
    # mark one job as finished in the store, the way the engine does (done.json per level)
    done = jobs[5]
    from robust_tickets.store import experiment_dir, write_json

    trial_dir = experiment_dir(tmp_path, done.config).trial(done.trial)
    for level in range(done.levels):
        write_json(trial_dir.level(level).done, {"level": level})
    code = main(
        [
            "sweep",
            str(ROOT / "configs" / "paper.yaml"),
            "--dry-run",
            "--no-estimate",
            "-o",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    rows = [line for line in out if "/trial_" in line]
    assert len(rows) == 160
    assert {line.split()[0] for line in rows} == {j.key for j in jobs}
    assert [line.split()[0] for line in rows if line.endswith("  done")] == [done.key]
    # the original's Keras loop: 60 epochs of 834 batches = 50,040 steps a level
    assert sum(j.iterations for j in jobs) == 120 * 21 * 50_040 + 40 * 50_040
    left = sum(j.iterations for j in jobs) - done.iterations
    assert f"160 jobs: 1 done, 159 to run; {left:,} training iterations left" in out


def test_trials_picks_those_seeds_of_every_job_and_refuses_absent_ones(tmp_path, capsys):
    grid = ["sweep", str(ROOT / "configs" / "paper.yaml"), "--dry-run", "--no-estimate"]
    assert main([*grid, "-o", str(tmp_path), "--trials", "1,3"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if "/trial_" in line]
    keys = [j.key for j in load_grid(ROOT / "configs" / "paper.yaml") if j.trial in (1, 3)]
    assert rows == keys and len(rows) == 64
    assert main([*grid, "-o", str(tmp_path / "x"), "--trials", "7"]) == 2
    one_line_error(capsys, "--trials 7", "its trials: 0, 1, 2, 3, 4")
    assert not (tmp_path / "x").exists()


def test_local_executor_and_the_sweep_command_do_not_import_ray():
    code = (
        "import sys; import robust_tickets.cli.sweep, robust_tickets.sweep; "
        "from robust_tickets.sweep.executors.local import LocalExecutor; "
        "print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- claims -----------------------------------------------------------------------------
def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_claim_is_exclusive_until_released(tmp_path):
    path = tmp_path / "job.lock"
    first = locks.try_claim(path)
    assert first is not None
    assert locks.try_claim(path) is None  # held by a live process (this one)
    assert locks.heartbeat(first)
    locks.release(first)
    assert not path.exists()
    assert locks.try_claim(path) is not None


def test_claims_of_dead_or_silent_owners_are_broken_live_ones_kept(tmp_path):
    def write(name: str, host: str, pid: int, age: float) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({"host": host, "pid": pid, "time": 0, "token": "x"}))
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
        return path

    here = socket.gethostname()
    dead = write("dead.lock", here, dead_pid(), 0)
    assert locks.try_claim(dead) is not None  # owner died here: stale at once
    alive = write("alive.lock", here, os.getpid(), 0)
    assert locks.try_claim(alive) is None
    remote = write("remote.lock", "some-other-host", 1, 10)
    assert locks.try_claim(remote, stale_after=60) is None  # fresh heartbeat elsewhere
    silent = write("silent.lock", "some-other-host", 1, 120)
    claim = locks.try_claim(silent, stale_after=60)  # no heartbeat for 2 minutes
    assert claim is not None and json.loads(silent.read_text())["token"] == claim.token
    assert not list(tmp_path.glob("*.stale"))


def test_a_sweep_leaves_a_job_to_the_live_sweep_that_holds_it(tmp_path, monkeypatch):
    """The job is claimed by another live process: this sweep never starts it, waits, and
    counts it done once the other finishes it (simulated by writing its completion marker)."""
    import threading

    from robust_tickets.store import experiment_dir, write_json
    from robust_tickets.sweep import scheduler
    from robust_tickets.sweep.executors.local import LocalExecutor

    monkeypatch.setattr(scheduler, "BLOCKED_RECHECK", 0.2)
    job = expand({"base": {"train_iters": 1, "eval_every": 1, "prune_iters": 0}})[0]
    claim = lock_path(tmp_path, job)
    claim.parent.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        info = {"host": socket.gethostname(), "pid": holder.pid, "time": 0, "token": "t"}
        claim.write_text(json.dumps(info))
        done = experiment_dir(tmp_path, job.config).trial(0).level(0).done
        threading.Timer(1.5, write_json, (done, {"level": 0})).start()
        result = scheduler.run_sweep([job], LocalExecutor(jobs=1), tmp_path)
        [state] = result.states
        assert state.status == "done" and state.attempts == 0  # never submitted here
        assert json.loads(claim.read_text())["token"] == "t"  # still the other sweep's
    finally:
        holder.kill()
        holder.wait()
