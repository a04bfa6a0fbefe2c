"""End-to-end properties of the experiment runner (tiny runs on toy data with Fashion-MNIST's
shapes; the parallel-processes test, whose workers load the data themselves, on the real one)."""

import pytest
import torch
from tests.conftest import small_config

from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.pruning import STRATEGIES
from robust_tickets.results import iter_rows
from robust_tickets.schedule import num_levels
from robust_tickets.store import load_tensors, read_metrics


def _run(tmp_path, toy_fashion, trials=1, **overrides):
    config = small_config(**overrides)
    exp, _ = run_experiment(
        config, RunOptions(trials=trials, output=tmp_path, quiet=True), splits=toy_fashion
    )
    return config, exp


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_every_strategy_runs_and_keeps_pruned_weights_zero(tmp_path, toy_fashion, strategy):
    config, exp = _run(tmp_path, toy_fashion, strategy=strategy, rewind_iter=12)
    trial = exp.trial(0)
    levels = trial.levels()
    assert len(levels) == num_levels(config) == (1 if strategy == "dense" else 3)
    for _, level in levels:
        assert level.is_done() and not level.checkpoint.exists()
        mask, init, final = (load_tensors(p) for p in (level.masks, level.init, level.final))
        for name in mask:
            pruned = mask[name] == 0
            assert torch.all(final[name][pruned] == 0)  # stayed exactly zero through training
            assert torch.all(init[name][pruned] == 0)
            survivors = mask[name] == 1
            assert not torch.equal(final[name][survivors], init[name][survivors])  # it trained
        rows = read_metrics(level.metrics)
        assert [r["iteration"] for r in rows if r["split"] == "test"] == [0, 12, 24]


def _level(exp, k):
    level = exp.trial(0).level(k)
    return {name: load_tensors(getattr(level, name)) for name in ("masks", "init", "final")}


def test_reset_restores_the_original_init_of_survivors(tmp_path, toy_fashion):
    _, exp = _run(tmp_path, toy_fashion, strategy="reset")
    l0, l1, l2 = (_level(exp, k) for k in range(3))
    for name in l0["init"]:
        assert torch.equal(l1["init"][name], l0["init"][name] * l1["masks"][name])
        assert torch.equal(l2["init"][name], l0["init"][name] * l2["masks"][name])


def test_continue_keeps_trained_values(tmp_path, toy_fashion):
    _, exp = _run(tmp_path, toy_fashion, strategy="continue")
    l0, l1 = _level(exp, 0), _level(exp, 1)
    for name in l0["init"]:
        assert torch.equal(l1["init"][name], l0["final"][name] * l1["masks"][name])


def test_random_differs_from_the_original_init(tmp_path, toy_fashion):
    _, exp = _run(tmp_path, toy_fashion, strategy="random")
    l0, l1, l2 = (_level(exp, k) for k in range(3))
    for name in l0["init"]:
        kept = l1["masks"][name] == 1
        assert not torch.allclose(l1["init"][name][kept], l0["init"][name][kept])
        assert not torch.allclose(l2["init"][name][kept], l1["init"][name][kept])
        # a fresh Glorot init: same scale as the original
        ratio = l1["init"][name][kept].std() / l0["init"][name].std()
        assert 0.9 < ratio < 1.1


def test_rewind_restores_the_iteration_k_values(tmp_path, toy_fashion):
    _, exp = _run(tmp_path / "a", toy_fashion, strategy="rewind", rewind_iter=12)
    # A run that stops at iteration 12 ends exactly where level 0 of the rewind run was at 12.
    _, short = _run(tmp_path / "b", toy_fashion, strategy="dense", train_iters=12, eval_every=12)
    at_k = load_tensors(exp.trial(0).rewind)
    reference = _level(short, 0)["final"]
    l1 = _level(exp, 1)
    for name in at_k:
        assert torch.equal(at_k[name], reference[name])
        assert torch.equal(l1["init"][name], at_k[name] * l1["masks"][name])


def test_identical_seeds_give_identical_metrics_and_trials_differ(tmp_path, toy_fashion):
    _run(tmp_path / "a", toy_fashion, trials=2, adv_train=True)
    _run(tmp_path / "b", toy_fashion, trials=2, adv_train=True)
    rows_a = list(iter_rows(tmp_path / "a"))
    rows_b = list(iter_rows(tmp_path / "b"))
    assert rows_a == rows_b and len(rows_a) == 2 * 3 * 3 * 2
    final = {r["trial"]: r["loss"] for r in rows_a if r["level"] == 2 and r["iteration"] == 24}
    assert final[0] != final[1]  # independent seeds per trial


def test_rerun_does_nothing_and_force_moves_old_results_aside(tmp_path, toy_fashion):
    config, exp = _run(tmp_path, toy_fashion)
    before = exp.trial(0).level(2).final.read_bytes()
    _, ran = run_experiment(config, RunOptions(output=tmp_path, quiet=True), splits=toy_fashion)
    assert ran == []
    _, ran = run_experiment(
        config, RunOptions(output=tmp_path, quiet=True, force=True), splits=toy_fashion
    )
    assert ran == [0]
    moved = list((exp.path / ".replaced").glob("*/trial_0/level_02/final.safetensors"))
    assert len(moved) == 1 and moved[0].read_bytes() == before
    assert exp.trial(0).level(2).final.read_bytes() == before  # deterministic redo


def test_results_rows_have_the_stable_fields(tmp_path, toy_fashion):
    _run(tmp_path, toy_fashion, adv_train=True, attack="pgd", steps=2)
    rows = list(iter_rows(tmp_path))
    required = {
        "dataset",
        "model",
        "attack",
        "adv_train",
        "strategy",
        "trial",
        "level",
        "remaining",
        "iteration",
        "split",
        "loss",
        "acc",
        "adv_loss",
        "adv_acc",
    }
    assert rows and all(required <= set(r) for r in rows)
    by_level = {r["level"]: r["remaining"] for r in rows}
    assert by_level[0] == 100.0
    assert by_level[1] == pytest.approx(100 * (0.8 * 265200 + 0.9 * 1000) / 266200, abs=0.01)
    assert all(0 <= r["acc"] <= 1 and 0 <= r["adv_acc"] <= 1 for r in rows)
    assert {r["split"] for r in rows} == {"valid", "test"}


@pytest.mark.slow
def test_trials_in_parallel_processes_equal_trials_one_after_another(tmp_path, fashion):
    # 3 trials on 2 workers: the parent and one child share the levels between them (small
    # validation and test sets: the property is equality, not accuracy)
    config = small_config(adv_train=True, prune_iters=1, valid_size=1000, test_size=500)
    threads = torch.get_num_threads()
    try:
        sequential = RunOptions(trials=3, output=tmp_path / "seq", quiet=True, threads=1)
        run_experiment(config, sequential)  # loads the data as the child does
    finally:
        torch.set_num_threads(threads)
    parallel = RunOptions(trials=3, output=tmp_path / "par", quiet=True, threads=1, jobs=2)
    _, ran = run_experiment(config, parallel)  # the child loads the data itself
    torch.set_num_threads(threads)
    assert ran == [0, 1, 2]
    rows = [list(iter_rows(tmp_path / d)) for d in ("seq", "par")]
    assert rows[0] == rows[1] and len(rows[0]) == 3 * 2 * 3 * 2
