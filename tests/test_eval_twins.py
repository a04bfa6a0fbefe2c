"""Identical networks are attacked once: a sibling experiment's byte-identical level lends its
stored results, and nothing else does."""

from __future__ import annotations

import pytest
from tests.conftest import small_config

from robust_tickets.cli.main import main
from robust_tickets.evaluation import runner, twins
from robust_tickets.evaluation.store import RobustnessDir
from robust_tickets.experiment import RunOptions, run_experiment

ARGV = ["--attacks", "fgsm,pgd", "--eps", "0,0.2", "--n-examples", "50", "-q"]


@pytest.fixture(scope="module")
def store(tmp_path_factory, fashion):
    """Three one-level runs: reset and random masks share level 0 (same seed: bitwise-equal
    dense networks); the third has another seed."""
    root = tmp_path_factory.mktemp("twins")
    made = {}
    for name, overrides in {
        "reset": {"strategy": "reset"},
        "random": {"strategy": "reset", "criterion": "random"},
        "seed9": {"strategy": "reset", "seed": 9},
    }.items():
        config = small_config(train_iters=30, eval_every=30, prune_iters=1, **overrides)
        exp, _ = run_experiment(config, RunOptions(output=root, quiet=True), splits=fashion)
        made[name] = exp
    return root, made


def _entries(exp, level: int) -> dict[str, tuple[float, list[bool]]]:
    loaded = RobustnessDir.of(exp.trial(0).level(level)).load()
    return {k: (e.role, e.robust.tolist()) for k, e in loaded.items()}


def test_an_identical_level_borrows_and_a_different_one_is_attacked(store, monkeypatch, capsys):
    _, made = store
    reset, random, seed9 = made["reset"], made["random"], made["seed9"]
    level0 = (reset.trial(0).level(0), random.trial(0).level(0))
    assert len({twins.fingerprint(d, None) for d in level0}) == 1  # the premise
    assert twins.fingerprint(seed9.trial(0).level(0), None) != twins.fingerprint(level0[0], None)

    assert main(["evaluate", str(reset.path), "--levels", "0", "--no-checks", *ARGV]) == 0
    attacked = []
    real = runner.robust_examples

    def counting(model, x, *args, **kwargs):
        attacked.append(len(x))
        return real(model, x, *args, **kwargs)

    monkeypatch.setattr(runner, "robust_examples", counting)
    capsys.readouterr()
    assert main(["evaluate", str(random.path), "--levels", "0", "--no-checks", *ARGV]) == 0
    assert attacked == []  # every result borrowed
    # and the announcement said so, instead of estimating attacks that will not run
    said = " ".join(capsys.readouterr().out.split())
    assert "everything asked for is stored already" in said, said
    assert "copied from identical networks" in said, said
    assert _entries(random, 0) == _entries(reset, 0)
    record = RobustnessDir.of(random.trial(0).level(0)).path / twins.BORROWED
    assert record.is_file() and str(reset.trial(0).level(0).path) in record.read_text()

    # another seed, or another level's weights: attacked, nothing borrowed
    assert main(["evaluate", str(seed9.path), "--levels", "0", "--no-checks", *ARGV]) == 0
    assert attacked
    assert not (RobustnessDir.of(seed9.trial(0).level(0)).path / twins.BORROWED).exists()
    attacked.clear()
    assert main(["evaluate", str(random.path), "--levels", "1", "--no-checks", *ARGV]) == 0
    assert attacked  # random masks at level 1 are not reset's level 1
    assert not (RobustnessDir.of(random.trial(0).level(1)).path / twins.BORROWED).exists()


def test_a_borrowed_result_equals_attacking_again(store, tmp_path, monkeypatch):
    """The premise of borrowing: the same weights, seed, trial and level give the same
    per-image results when attacked (the seeds derive from them, not from the run's name)."""
    _, made = store
    reset, random = made["reset"], made["random"]
    assert main(["evaluate", str(random.path), "--levels", "0", "--no-checks", *ARGV]) == 0
    kept = _entries(random, 0)  # attacked, or borrowed from reset: the same either way
    folder = RobustnessDir.of(reset.trial(0).level(0)).path
    if folder.exists():
        folder.rename(tmp_path / "kept")
    monkeypatch.setattr(twins, "siblings", lambda exp: [])  # attack for real
    assert main(["evaluate", str(reset.path), "--levels", "0", "--no-checks", *ARGV]) == 0
    assert _entries(reset, 0) == kept
    assert not (folder / twins.BORROWED).exists()


def test_evaluate_jobs_stores_what_one_process_stores_and_attacks_a_twin_once(
    store, tmp_path, capsys
):
    """`evaluate --jobs 2` (levels in spawned worker processes) writes the same per-image
    results and prints the same tables as one process; twins share a worker, so exactly one of
    the two identical level-0 networks is attacked and the other borrows."""
    import shutil

    from robust_tickets.store import find_experiments

    root, _ = store
    copies = {}
    for jobs in (1, 2):
        copies[jobs] = tmp_path / f"jobs{jobs}"
        shutil.copytree(root, copies[jobs], ignore=shutil.ignore_patterns("robustness"))
        capsys.readouterr()
        argv = ["evaluate", str(copies[jobs]), "--jobs", str(jobs), "--threads", "1", *ARGV]
        assert main(argv) == 0
        printed = capsys.readouterr().out.replace(str(copies[jobs]), "ROOT")
        said = " ".join(printed[: printed.index("ROOT")].split())  # the timing estimate
        assert ("test examples, 2 at once;" in said) == (jobs == 2), said
        printed = printed[printed.index("ROOT") :]  # the tables
        copies[jobs] = (list(find_experiments(copies[jobs])), printed)
    (serial, serial_out), (parallel, parallel_out) = copies[1], copies[2]
    assert parallel_out == serial_out
    assert [e.path.name for e in parallel] == [e.path.name for e in serial]
    borrowed = 0
    assert len(parallel) == 3
    for one, many in zip(serial, parallel, strict=True):
        for level in (0, 1):
            assert _entries(many, level) == _entries(one, level), (many.path.name, level)
            lent = RobustnessDir.of(many.trial(0).level(level)).path / twins.BORROWED
            borrowed += lent.exists()
    assert borrowed == 1  # reset's and random's level 0: one attacked, the other borrowed
    assert not list(tmp_path.rglob("evaluating.lock"))  # every claim released


def test_evaluate_jobs_must_be_positive(store, capsys):
    root, _ = store
    assert main(["evaluate", str(root), "--jobs", "0", *ARGV]) == 2
    err = capsys.readouterr().err.strip()
    assert "--jobs" in err and "\n" not in err
