"""Pruned levels copied from a sibling run of the same chain (`engine.borrow.borrow_level`): a run
that differs from a finished one only in how many levels it prunes to trains only the levels the
other lacks, and ends with exactly the files it would have written training every level here.
A level is never taken from a chain that pruned to other levels on the way, that differs in any
other setting, or whose level before it is not byte for byte this trial's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tests.conftest import files_under, small_config, toy_splits
from tests.test_borrow_level0 import level_files

from robust_tickets.data import splits_digest
from robust_tickets.engine.borrow import borrow_level, chain_settings, lendable_levels
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import create_model
from robust_tickets.schedule import level_steps
from robust_tickets.store import ExperimentDir, experiment_dir, verify_trial
from robust_tickets.sweep.jobs import Job
from robust_tickets.sweep.plan import job_status

BASE = {"train_iters": 8, "eval_every": 4, "seed": 5}


def config(**overrides):
    return small_config(**{**BASE, **overrides})


def run(cfg, out: Path, splits, borrow: bool = True) -> ExperimentDir:
    options = RunOptions(output=out, quiet=True, borrow_level0=borrow)
    exp, _ = run_experiment(cfg, options, splits=splits)
    return exp


def borrowed(exp: ExperimentDir) -> dict[int, str]:
    """The levels of trial 0 that were copied, and from which experiment."""
    out = {}
    for path in sorted(exp.trial(0).path.glob("level_*/borrowed_from.json")):
        out[int(path.parent.name[-2:])] = json.loads(path.read_text())["experiment"]
    return out


def without_records(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if not k.endswith("borrowed_from.json")}


@pytest.fixture(scope="module")
def splits():
    return toy_splits((1, 28, 28), 240, 60, 60, seed=1)


@pytest.mark.parametrize(
    "strategy", ["reset", "rewind_trained", "continue"], ids=lambda s: f"strategy-{s}"
)
@pytest.mark.parametrize("short,long", [(1, 3), (3, 1)], ids=["extend", "shorten"])
def test_a_chain_of_another_length_lends_the_levels_they_share(
    tmp_path, splits, strategy, short, long
):
    out = tmp_path / "results"
    lender = run(config(strategy=strategy, prune_iters=short), out, splits)
    before = files_under(lender.path)
    cfg = config(strategy=strategy, prune_iters=long)
    borrower = run(cfg, out, splits)
    alone = run(cfg, tmp_path / "alone", splits, borrow=False)

    shared = min(short, long)
    assert borrowed(borrower) == {k: lender.path.name for k in range(shared + 1)}
    # what the sweep's `done` line says of it
    assert Job(cfg, 0).borrowed_from(out) == f"levels 0-{shared} copied from {lender.path.name}"
    # the levels after the shared ones trained here, and every file is what training alone wrote
    assert without_records(level_files(borrower)) == level_files(alone)
    assert files_under(lender.path) == before  # the lender is only read
    verify_trial(borrower.trial(0))


def test_a_chain_that_pruned_to_other_levels_lends_only_the_levels_before(tmp_path, splits):
    out = tmp_path / "results"
    lender = run(config(strategy="reset", prune_levels="1,2"), out, splits)
    cfg = config(strategy="reset", prune_levels="1,3")
    borrower = run(cfg, out, splits)
    assert borrowed(borrower) == {0: lender.path.name, 1: lender.path.name}
    assert without_records(level_files(borrower)) == level_files(
        run(cfg, tmp_path / "alone", splits, borrow=False)
    )


@pytest.mark.parametrize(
    "field,value", [("prune_rate", 0.5), ("criterion", "random"), ("train_iters", 12)]
)
def test_a_chain_differing_in_another_setting_lends_no_pruned_level(tmp_path, splits, field, value):
    out = tmp_path / "results"
    run(config(strategy="reset", prune_iters=1, **{field: value}), out, splits)
    borrower = run(config(strategy="reset", prune_iters=2), out, splits)
    assert not [k for k in borrowed(borrower) if k > 0]


def test_chain_settings_leave_out_only_the_chain_length():
    a = chain_settings(config(strategy="reset", prune_iters=2))
    assert a == chain_settings(config(strategy="reset", prune_iters=7))
    assert a == chain_settings(config(strategy="reset", prune_levels="1,2"))
    others = [("prune_rate", 0.5), ("one_shot", True), ("seed", 6), ("learning_rate", 0.01)]
    for field, value in others:
        assert a != chain_settings(config(strategy="reset", prune_iters=2, **{field: value}))
    assert a != chain_settings(config(strategy="rewind_trained", prune_iters=2))


@pytest.mark.parametrize("which", ["final.safetensors", "masks.safetensors"])
def test_a_level_is_not_taken_from_a_chain_that_does_not_continue_this_trials(
    tmp_path, splits, which
):
    out = tmp_path / "results"
    lender = run(config(strategy="reset", prune_iters=2), out, splits)
    cfg = config(strategy="reset", prune_iters=3)
    exp = experiment_dir(out, cfg)
    # this trial's level 0 is done here, but it is not the lender's (another tensor value)
    exp.trial(0).path.mkdir(parents=True)
    shutil.copytree(lender.trial(0).level(0).path, exp.trial(0).level(0).path)
    path = exp.trial(0).level(0).path / which
    tensors = load_file(path)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    flat = tensors[name].view(-1)
    flat[0] = 1.0 - flat[0] if which == "masks.safetensors" else flat[0] + 1.0
    save_file(tensors, path)
    model = create_model(cfg.model.model, (1, 28, 28), 10, seed=0)
    digest = splits_digest(splits)
    assert borrow_level(exp, cfg, 0, 1, model, digest) is None
    assert not exp.trial(0).level(1).path.exists()
    # the same trial with the lender's level 0 byte for byte continues the lender's chain
    shutil.copyfile(lender.trial(0).level(0).path / which, path)
    record = borrow_level(exp, cfg, 0, 1, model, digest)
    assert record is not None and record["level"] == 1
    assert record["experiment"] == lender.path.name
    copied, lent = exp.trial(0).level(1).final, lender.trial(0).level(1).final
    assert torch.equal(load_file(copied)[name], load_file(lent)[name])


def test_the_dry_run_counts_the_levels_a_sibling_will_lend(tmp_path, splits):
    out = tmp_path / "results"
    lender = run(config(strategy="reset", prune_levels="1,2"), out, splits)
    run(config(strategy="rewind_trained", prune_iters=1), out, splits)  # shares level 0 only
    steps = level_steps(lender.config())

    def status(**overrides) -> tuple[str, int]:
        return job_status(Job(config(**overrides), 0), out)

    text, done = status(strategy="reset", prune_iters=4)  # the lender's chain, longer
    assert done == 3 * steps and f"(levels 0-2 to copy from {lender.path.name})" in text
    text, done = status(strategy="reset", prune_levels="1,3,4")  # parts from it after level 1
    assert done == 2 * steps and "levels 0-1 to copy" in text
    text, done = status(strategy="continue", prune_iters=2)  # level 0 from either sibling
    assert done == steps and "(level 0 to copy from" in text
    text, done = status(strategy="reset", prune_iters=2, seed=9)  # nothing to lend
    assert (text, done) == ("to run", 0)
    assert job_status(Job(config(strategy="reset", prune_iters=4), 0), out, borrow=False) == (
        "to run",
        0,
    )
    lent = lendable_levels(experiment_dir(out, config(strategy="reset", prune_iters=4)),
                           config(strategy="reset", prune_iters=4), 0)  # fmt: skip
    assert lent == (3, lender.path.name)


def test_the_report_header_leaves_out_every_copied_levels_time(tmp_path, splits):
    from robust_tickets.report.header import run_info
    from robust_tickets.report.load import load_series

    out = tmp_path / "results"
    run(config(strategy="reset", prune_iters=1), out, splits)
    borrower = run(config(strategy="reset", prune_iters=3), out, splits)
    (series,) = [s for s in load_series([out]) if borrower.path in s.paths]
    info = run_info(series)
    own = [
        json.loads(borrower.trial(0).level(k).done.read_text())["seconds_this_session"]
        for k in (2, 3)
    ]
    assert info["copied_levels"] == 2
    assert info["level_seconds"] == pytest.approx(sum(own))
