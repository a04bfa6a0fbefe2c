"""Set-up fetches what the main job needs (Fashion-MNIST; in CI every dataset the suite reads);
`evaluate` and `sweep` fetch a missing dataset on first use, as `run` does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import one_line_error

from robust_tickets.cli.main import main
from robust_tickets.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def _setup_fetches(tmp_path: Path, ci: str | None) -> list[str]:
    """Run scripts/setup.sh in a copy of the checkout whose .venv is a stub that logs each
    command it is given (installation already done): the data commands it runs."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    (tmp_path / "pyproject.toml").write_text("")
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    log = tmp_path / "log"
    stub = venv / "python"
    stub.write_text(f'#!/usr/bin/env bash\necho "$*" >> {log}\n')
    stub.chmod(0o755)
    stamp = tmp_path / ".venv" / ".robust_tickets-installed"
    stamp.touch()
    os.utime(tmp_path / "pyproject.toml", (0, 0))  # older than the stamp: nothing to install
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    subprocess.run(
        ["bash", str(tmp_path / "scripts" / "setup.sh")], env=env, check=True, timeout=60
    )
    return log.read_text().splitlines()


def test_setup_fetches_only_fashion_mnist(tmp_path):
    assert _setup_fetches(tmp_path, None) == [
        "-m robust_tickets data fetch fashion_mnist --quiet-if-present"
    ]


def test_setup_in_ci_fetches_every_dataset(tmp_path):
    assert _setup_fetches(tmp_path, "true") == [
        "-m robust_tickets data fetch --all --quiet-if-present"
    ]


class _Fetched(Exception):
    pass


@pytest.fixture
def fetch_calls(monkeypatch) -> list[tuple]:
    """ensure_dataset replaced by a recorder that stops the command (nothing is fetched)."""
    # modules that bind ensure_dataset at import: imported first, with the real one, so that
    # the patch cannot outlive this test through them
    import robust_tickets.experiment
    import robust_tickets.sweep.scheduler  # noqa: F401
    from robust_tickets.data import fetch

    calls: list[tuple] = []

    def record(name, data_dir=None, allow_fetch=True):
        calls.append((name, data_dir))
        raise UserError(f"{name} recorded")

    monkeypatch.setattr(fetch, "ensure_dataset", record)
    return calls


def test_sweep_fetches_each_dataset_once_before_its_workers(tmp_path, capsys, fetch_calls):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "base: {train_iters: 4, eval_every: 2, prune_iters: 0}\n"
        "axes: {dataset: [mnist], trial: [0, 1, 2]}\n"
    )
    out = tmp_path / "out"
    argv = ["sweep", str(grid), "-q", "-o", str(out), "--data-dir", str(tmp_path / "d")]
    assert main(argv) == 2
    one_line_error(capsys, "mnist recorded")
    assert fetch_calls == [("mnist", str(tmp_path / "d"))]
    assert main([*argv, "--dry-run", "--no-estimate"]) == 0  # a dry run fetches nothing
    assert len(fetch_calls) == 1


def test_evaluate_fetches_a_missing_dataset(tmp_path, capsys, fetch_calls):
    from robust_tickets.resolve import from_flat
    from robust_tickets.store import experiment_dir, write_config

    config = from_flat({"dataset": "mnist", "train_iters": 4, "prune_iters": 0})
    exp = experiment_dir(tmp_path / "results", config)
    exp.path.mkdir(parents=True)
    write_config(exp, config)
    assert main(["evaluate", str(tmp_path / "results"), "--attacks", "fgsm", "-q"]) == 2
    one_line_error(capsys, "mnist recorded")
    assert fetch_calls == [("mnist", None)]
