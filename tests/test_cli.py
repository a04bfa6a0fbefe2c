"""The CLI as a user meets it: one-line errors with exit code 2, nothing written on bad input."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from robust_tickets.data.idx import encode_idx

TINY = ["--train-iters", "4", "--eval-every", "2", "--prune-iters", "1", "--quiet"]
# every evaluation on 1,000 + 500 images, not 10,000 + 10,000: what these tests check does not
# depend on it, and under load the full sets pushed CLI runs past their time limits
TINY += ["--valid-size", "1000", "--test-size", "500"]


def cli(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "robust_tickets", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


def assert_one_line_error(done, *needles):
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--dataset", "cifar100"], "unknown dataset"),
        (["--model", "resnet9000"], "unknown model"),
        (["--attack", "cw"], "unknown attack"),
        (["--strategy", "magic"], "unknown strategy"),
        (["--train-iters", "0"], "train_iters"),
        (["--eval-every", "0"], "eval_every"),
        (["--eps", "-0.1"], "eps"),
        (["--prune-rate", "1.0"], "prune_rate"),
        (["--prune-rate-output", "-0.5"], "prune_rate_output"),
        (["--train-iters", "many"], "invalid int"),
        (["--eps", "8/0"], "invalid number value: '8/0'"),
        (["--trials", "0"], "trials"),
        (["--valid-size", "60000"], "valid_size"),
        (["--valid-size", "59990"], "batch_size"),
        (["--steps", "0"], "steps"),
        (["--device", "tpu"], "device"),
    ],
)
def test_bad_flags(tmp_path, flags, needle):
    out = tmp_path / "out"
    done = cli("run", *TINY, *flags, "-o", out)
    assert_one_line_error(done, needle)
    assert not out.exists()


def test_unreadable_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train_iters: [1, 2\n")
    done = cli("run", "--config", bad, "-o", tmp_path / "out")
    assert_one_line_error(done, "not valid YAML")
    done = cli("run", "--config", tmp_path / "missing.yaml", "-o", tmp_path / "out")
    assert_one_line_error(done, "does not exist")
    bad.write_text("train_iterz: 3\n")
    assert_one_line_error(cli("run", "--config", bad, "-o", tmp_path / "out"), "train_iterz")
    assert not (tmp_path / "out").exists()


def _fake_fashion(directory: Path, damage: str) -> None:
    directory.mkdir(parents=True)
    files = {
        "train-images-idx3-ubyte": np.zeros((60000, 28, 28), np.uint8),
        "train-labels-idx1-ubyte": np.zeros((60000,), np.uint8),
        "t10k-images-idx3-ubyte": np.zeros((10000, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte": np.zeros((10000,), np.uint8),
    }
    for name, array in files.items():
        data = encode_idx(array)
        if name == "train-images-idx3-ubyte":  # the first file read
            if damage == "magic":
                data = b"\x12\x34" + data[2:]
            elif damage == "length":
                data = data[:-7]
        gz = gzip.compress(data)
        if name == "train-images-idx3-ubyte" and damage == "truncated":
            gz = gz[: len(gz) // 2]
        (directory / f"{name}.gz").write_bytes(gz)


@pytest.mark.parametrize(
    "damage, needle",
    [
        ("magic", "bad magic"),
        ("length", "data bytes"),
        ("truncated", "truncated gzip"),
        ("checksum", "SHA-256"),
    ],
)
def test_malformed_data_files(tmp_path, damage, needle):
    _fake_fashion(tmp_path / "data" / "fashion_mnist", damage)
    out = tmp_path / "out"
    done = cli("run", *TINY, "--data-dir", tmp_path / "data", "-o", out)
    assert_one_line_error(done, needle, "train-images")
    assert not out.exists()


def test_failed_run_does_not_touch_earlier_results(tmp_path, fashion):
    out = tmp_path / "out"
    assert cli("run", *TINY, "-o", out).returncode == 0
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    _fake_fashion(tmp_path / "data" / "fashion_mnist", "magic")
    done = cli("run", *TINY, "--force", "--data-dir", tmp_path / "data", "-o", out)
    assert_one_line_error(done, "bad magic")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot


def test_results_json_and_csv(tmp_path, fashion):
    out = tmp_path / "out"
    done = cli("run", *TINY, "--adv-train", "--attack", "pgd", "--steps", "2", "-o", out)
    assert done.returncode == 0, done.stderr
    assert "results:" in done.stdout
    again = cli("run", *TINY, "--adv-train", "--attack", "pgd", "--steps", "2", "-o", out)
    assert again.returncode == 0 and "already complete" in again.stdout
    rows = [json.loads(line) for line in cli("results", out, "--json").stdout.splitlines()]
    assert len(rows) == 2 * 3 * 2  # levels x evaluations x splits
    assert {r["attack"] for r in rows} == {"pgd"} and all(r["adv_train"] for r in rows)
    table = cli("results", out, "--csv").stdout.splitlines()
    assert len(table) == len(rows) + 1 and table[0].startswith("experiment,")
    (exp,) = [p.parent for p in out.glob("*/config.yaml")]
    twice = cli("results", out, exp, out, "--csv").stdout.splitlines()  # one experiment, 3 names
    assert twice == table
    assert_one_line_error(cli("results", tmp_path / "nothing"), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("results", tmp_path / "empty"), "no results")


def _tiny_trial_lock(out: Path, trial: int = 0) -> Path:
    from robust_tickets.resolve import from_flat
    from robust_tickets.sweep.jobs import Job, lock_path

    config = from_flat(
        {"train_iters": 4, "eval_every": 2, "prune_iters": 1, "valid_size": 1000, "test_size": 500}
    )
    return lock_path(out, Job(config, trial))


def test_run_refuses_a_trial_another_live_process_is_running(tmp_path, fashion):
    from robust_tickets import claims as locks

    out = tmp_path / "out"
    claim = locks.try_claim(_tiny_trial_lock(out))  # held by this (live) test process
    assert claim is not None
    done = cli("run", *TINY, "-o", out)
    assert_one_line_error(done, "trial 0", "being run by another process", f"pid {os.getpid()}")
    assert not [p for p in out.iterdir() if not p.name.startswith(".")]  # no results written
    locks.release(claim)
    assert cli("run", *TINY, "-o", out).returncode == 0


def test_run_breaks_a_dead_processs_claim_and_leaves_none(tmp_path, fashion):
    import socket

    out = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = _tiny_trial_lock(out)
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "x"}))
    done = cli("run", *TINY, "--trials", "2", "-o", out)
    assert done.returncode == 0, done.stderr
    assert not list(lock.parent.iterdir())  # its own claims released, the stale one gone


def test_evaluate_reads_fractions_and_refuses_a_bad_one(tmp_path):
    done = cli("evaluate", tmp_path, "--eps", "0,8/0")
    assert_one_line_error(done, "fractions (8/255)", "'0,8/0'")


def test_run_jobs_on_a_gpu_is_said_to_run_the_trials_one_after_another(
    tmp_path, monkeypatch, capsys
):
    """`run --jobs` pools CPU processes only: asked for on a GPU, the user is told that the
    trials run in turn (and where several processes per GPU are found), not left to guess."""
    import torch

    import robust_tickets.device as device
    import robust_tickets.experiment  # noqa: F401  (bound to the real device check first)
    from robust_tickets.cli.main import main

    monkeypatch.setattr(device, "resolve_device", lambda name: torch.device("cuda"))
    argv = ["run", *TINY, "--device", "cuda", "--trials", "2", "-o", str(tmp_path / "out")]
    for jobs, said in (([], False), (["--jobs", "1"], False), (["--jobs", "2"], True)):
        code = main([*argv, *jobs])
        err = capsys.readouterr().err
        assert ("pools CPU worker processes" in err and "one after another" in err) == said
        if not torch.cuda.is_available():  # the run itself is refused here, after the note
            assert code == 2 and "no CUDA GPU" in err
