"""Sweeps that really train (tiny jobs on the real Fashion-MNIST): the local executor, the Ray
executor (same metrics), a sweep killed with SIGKILL and restarted, and a failing job. The Ray
and SIGKILL tests are marked slow (scripts/test.sh runs them in CI only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from robust_tickets.cli.main import main
from robust_tickets.data.locate import locate
from robust_tickets.data.registry import DATASETS
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.store import experiment_dir, load_tensors
from robust_tickets.sweep import load_grid, run_sweep
from robust_tickets.sweep.executors.local import LocalExecutor
from robust_tickets.sweep.jobs import Job

# 3 jobs: reset x trials 0, 1 (2 levels each) and the dense baseline x trial 0 (1 level)
TINY_GRID = """
base: {dataset: fashion_mnist, valid_size: 1000, test_size: 500, adv_train: true,
       train_iters: 12, eval_every: 12, prune_iters: 1, seed: 3}
axes:
  strategy: [reset, dense]
  trial: [0, 1]
exclude:
  - {strategy: dense, trial: 1}
"""


@pytest.fixture(scope="module", autouse=True)
def need_data():
    if locate(DATASETS.get("fashion_mnist")) is None:
        if os.environ.get("CI"):
            pytest.fail("Fashion-MNIST missing in CI: scripts/setup.sh should have fetched it")
        pytest.skip("Fashion-MNIST not present: run `robust-tickets data fetch fashion_mnist`")


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grid") / "tiny.yaml"
    path.write_text(TINY_GRID)
    return path


@pytest.fixture(scope="module")
def reference(grid, tmp_path_factory):
    """The tiny grid swept by the local executor: 2 worker processes of 1 thread each."""
    out = tmp_path_factory.mktemp("local")
    jobs = load_grid(grid)
    result = run_sweep(jobs, LocalExecutor(jobs=2, threads=1), out, retries=0)
    return jobs, out, result


def trial_files(out: Path, job: Job) -> dict[str, Path]:
    """A trial's files; a level 0 copied from a sibling job (`borrowed_from.json`, as the dense
    job's may be, depending on which job finished level 0 first) holds the same files besides."""
    trial = experiment_dir(out, job.config).trial(job.trial)
    return {
        str(p.relative_to(trial.path)): p
        for p in sorted(trial.path.rglob("*"))
        if p.is_file() and p.name != "borrowed_from.json"
    }


def assert_same_results(jobs: list[Job], a: Path, b: Path) -> None:
    """Every metrics row and every saved tensor of every job is identical in both stores."""
    for job in jobs:
        files_a, files_b = trial_files(a, job), trial_files(b, job)
        assert sorted(files_a) == sorted(files_b), job.key
        for name, path in files_a.items():
            if name.endswith("metrics.csv"):
                assert path.read_text() == files_b[name].read_text(), (job.key, name)
            elif name.endswith(".safetensors"):
                ta, tb = load_tensors(path), load_tensors(files_b[name])
                assert all(torch.equal(ta[k], tb[k]) for k in ta), (job.key, name)


def test_local_sweep_runs_every_job_exactly_as_run_would(reference, tmp_path):
    jobs, out, result = reference
    assert [s.status for s in result.states] == ["done"] * 3
    assert [s.attempts for s in result.states] == [1, 1, 1]
    assert all(job.is_complete(out) for job in jobs)
    assert {j.levels for j in jobs} == {1, 2}
    # one job redone in this process with `run`'s own entry point, one thread as in the sweep
    job = jobs[1]
    threads = torch.get_num_threads()
    try:
        options = RunOptions(output=tmp_path, trial_list=(job.trial,), quiet=True, threads=1)
        run_experiment(job.config, options)
    finally:
        torch.set_num_threads(threads)
    assert_same_results([job], out, tmp_path)


def test_rerunning_a_finished_sweep_does_nothing(reference):
    jobs, out, _ = reference
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    result = run_sweep(jobs, LocalExecutor(jobs=2, threads=1), out)
    assert [(s.status, s.attempts) for s in result.states] == [("already", 0)] * 3
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.slow
def test_ray_executor_gives_the_same_results_as_the_local_one(reference, tmp_path):
    if not os.environ.get("CI"):
        pytest.importorskip("ray")
    from robust_tickets.sweep.executors.ray import RayExecutor

    jobs, out, _ = reference
    executor = RayExecutor(jobs=2, cpus_per_job=1, init_options={"num_cpus": 2})
    result = run_sweep(jobs, executor, tmp_path, retries=0)
    assert [s.status for s in result.states] == ["done"] * 3, [s.error for s in result.states]
    assert_same_results(jobs, out, tmp_path)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has stopped running


@pytest.mark.slow
def test_sweep_killed_with_sigkill_then_restarted_finishes_without_redoing_jobs(
    reference, grid, tmp_path
):
    jobs, ref_out, _ = reference
    out = tmp_path / "store"
    command = [sys.executable, "-m", "robust_tickets", "sweep", str(grid), "-o", str(out)]
    command += ["--jobs", "2", "--threads", "1", "--quiet"]
    sweep = subprocess.Popen(command)
    workers: set[int] = set()
    deadline = time.time() + 150
    try:
        while not any(job.is_complete(out) for job in jobs):
            assert sweep.poll() is None, "the sweep ended before it could be killed"
            assert time.time() < deadline, "no job finished in time"
            workers.update(_children(sweep.pid))
            time.sleep(0.05)
        workers.update(_children(sweep.pid))
    finally:
        sweep.send_signal(signal.SIGKILL)
        sweep.wait()
    finished = [job for job in jobs if job.is_complete(out)]
    assert 0 < len(finished) < len(jobs)
    # the killed sweep's workers notice and stop (they would otherwise race the restart)
    assert workers
    deadline = time.time() + 30
    while [pid for pid in workers if _alive(pid)]:
        assert time.time() < deadline, "workers of the killed sweep are still running"
        time.sleep(0.2)
    stamps = {p: p.stat().st_mtime_ns for job in finished for p in trial_files(out, job).values()}

    assert main(["sweep", str(grid), "-o", str(out), "--jobs", "2", "--threads", "1", "-q"]) == 0
    assert all(job.is_complete(out) for job in jobs)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # finished jobs not redone
    assert_same_results(jobs, ref_out, out)
    assert not list((out / ".sweep" / "locks").iterdir())  # stale claims taken over or cleared


def test_a_failing_job_is_retried_then_reported_while_the_others_complete(tmp_path, capsys):
    # valid_size 59990 leaves 10 training images, fewer than a batch: the job fails when it
    # runs (a valid config, a real failure), every time.
    path = tmp_path / "grid.yaml"
    path.write_text(
        "base: {train_iters: 12, eval_every: 12, strategy: dense, valid_size: 1000, "
        "test_size: 500}\n"
        "include: [{valid_size: 59990}]\n"
    )
    out = tmp_path / "store"
    code = main(["sweep", str(path), "-o", str(out), "-j", "2", "--threads", "1", "--retries", "1"])
    captured = capsys.readouterr()
    assert code == 1
    good, bad = load_grid(path)
    assert good.is_complete(out) and not bad.is_complete(out)
    assert f"FAILED {bad.key} after 2 attempt(s): batch_size 60 is larger" in captured.out
    assert "1 run now, 0 already done, 1 failed" in captured.out
    assert "retry" in captured.err  # the live view said it was retrying
    logs = sorted((out / ".sweep" / "logs").iterdir())
    assert [p.name.rsplit(".", 2)[-2] for p in logs] == ["attempt1", "attempt2"]
    assert all("Traceback" in p.read_text() for p in logs)
    assert not list((out / ".sweep" / "locks").iterdir())


def test_the_dry_run_times_the_keras_loop_as_the_steps_loop_and_counts_its_evaluations():
    # The keras loop counts whole epochs of the data: a probe of a few steps on a few hundred
    # synthetic images ran no steps and no evaluations, so `--dry-run` estimated the paper
    # preset's PGD levels without their evaluations (0 s per image).
    from robust_tickets.config import PRESETS
    from robust_tickets.resolve import from_flat
    from robust_tickets.sweep.estimate import Estimator, job_seconds
    from robust_tickets.sweep.jobs import evaluations_per_level

    values = {"dataset": "mnist", "attack": "fgsm", "adv_train": True, "prune_iters": 0}
    keras = from_flat({**PRESETS["paper"], **values, "stop_step": 1001})
    steps = from_flat({**values, "train_iters": 1001, "eval_every": 500})
    # two estimators: one caches its rates per model, attack and batch, not per loop
    keras_rates, steps_rates = Estimator(threads=1).rates(keras), Estimator(threads=1).rates(steps)
    # the same model, attack and batch: a step and an evaluated image cost the same in either
    # loop (machines are noisy, hence the wide band; the broken probe read ~0 s per image)
    assert 1 / 3 < keras_rates.step / steps_rates.step < 3
    assert 1 / 3 < keras_rates.image / steps_rates.image < 3
    # after in-epoch batches 0 and 500 of epochs 1 and 2 (steps 1, 501, 835), and at the stop
    assert evaluations_per_level(keras) == 4
    assert job_seconds(Job(keras, 0), keras_rates) > 1001 * keras_rates.step
