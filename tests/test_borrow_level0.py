"""A trial's level 0 copied from a sibling experiment (`engine/borrow.py`): a run that borrows
ends with exactly the files a run that trains its own level 0 writes (the sibling's level 0 is
what it would have trained), it never borrows from a sibling that differs in anything level 0
reads, from an unfinished or damaged level 0 or one trained on other data, and it never touches
the lender."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections import deque
from pathlib import Path

import pytest
from tests.conftest import files_under, small_config, toy_splits

from robust_tickets.config import FIELD_META, SETTINGS, SLOTS
from robust_tickets.data import splits_digest
from robust_tickets.engine import borrow
from robust_tickets.engine.borrow import borrow_level0, level0_settings
from robust_tickets.evaluation.twins import fingerprint
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.models import create_model
from robust_tickets.pruning import CRITERIA, PRUNE_METHODS, STRATEGIES
from robust_tickets.resolve import REGISTRIES
from robust_tickets.results import iter_rows
from robust_tickets.store import (
    TRAINED_FILES,
    ExperimentDir,
    experiment_dir,
    verify_trial,
    verify_trial_states,
)

BASE = {"train_iters": 8, "eval_every": 4, "prune_iters": 2, "seed": 3}
K = 4  # the rewind step of the rewinding runs (<= train_iters)
# per component: the settings that keep its tiny runs tiny (HYDRA's 500-step score phase)
TINY = {"hydra": {"hydra_iters": 3}, "snip": {"snip_batches": 2}}
# magnitude, layerwise (the defaults), one pruned level: a sibling of every case below
LENDER = {"strategy": "reset", "prune_iters": 1}
# lends to a rewinding run: it kept the snapshot at K (and prunes otherwise: another criterion)
REWIND_LENDER = {"strategy": "rewind", "rewind_iter": K, "criterion": "shuffle"}


def config(**overrides):
    return small_config(**{**BASE, **overrides})


def run(cfg, out: Path, splits, borrow_level0: bool = True, trials: int = 1) -> ExperimentDir:
    options = RunOptions(output=out, quiet=True, borrow_level0=borrow_level0, trials=trials)
    exp, _ = run_experiment(cfg, options, splits=splits)
    return exp


@pytest.fixture(scope="module")
def splits():
    return toy_splits((1, 28, 28), 240, 60, 60, seed=0)


@pytest.fixture(scope="module")
def lenders(tmp_path_factory, splits) -> Path:
    """A results directory holding the two lenders, each trained once for the module."""
    out = tmp_path_factory.mktemp("lenders") / "results"
    for overrides in (LENDER, REWIND_LENDER):
        run(config(**overrides), out, splits, borrow_level0=False)
    return out


def lenders_files(out: Path) -> dict[str, bytes]:
    """Every file of the two lenders' directories in `out`."""
    files: dict[str, bytes] = {}
    for overrides in (LENDER, REWIND_LENDER):
        files.update(files_under(experiment_dir(out, config(**overrides)).path))
    return files


@pytest.fixture
def shared(tmp_path, lenders) -> Path:
    """A fresh copy of the lenders' results directory for one test."""
    out = tmp_path / "shared"
    shutil.copytree(lenders, out)
    return out


def level_files(exp: ExperimentDir, trial: int = 0) -> dict[str, bytes]:
    """Every file of a trial by its path inside the trial, done.json without its timing."""
    root = exp.trial(trial).path
    out = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        content = path.read_bytes()
        if path.name == "done.json":
            record = json.loads(content)
            record.pop("seconds_this_session")
            content = json.dumps(record, sort_keys=True).encode()
        out[str(path.relative_to(root))] = content
    return out


def assert_same_as_trained_here(borrower: ExperimentDir, trained: ExperimentDir) -> None:
    """The borrower's trial is the trained one's, file for file, but for borrowed_from.json (in
    level 0, and in the pruned levels of a chain it shares with a lender: `borrow_level`)."""
    mine, theirs = level_files(borrower), level_files(trained)
    extra = set(mine) - set(theirs)
    assert "level_00/borrowed_from.json" in extra
    assert all(name.endswith("/borrowed_from.json") for name in extra), extra
    assert set(theirs) <= set(mine)
    different = [name for name in theirs if mine[name] != theirs[name]]
    assert not different, f"borrowed run differs from one trained in place in {different}"


def lender_of(overrides: dict) -> dict:
    needs_snapshot = STRATEGIES.get(overrides.get("strategy", "reset")).rewind_step() is not None
    return REWIND_LENDER if needs_snapshot else LENDER


def with_tiny(name: str, overrides: dict) -> dict:
    if name == "rewind":
        overrides = {**overrides, "rewind_iter": K}
    return {**overrides, **TINY.get(name, {})}


CASES = (
    [pytest.param(with_tiny(s, {"strategy": s}), id=f"strategy-{s}") for s in STRATEGIES.names()]
    + [
        pytest.param(with_tiny(c, {"strategy": "reset", "criterion": c}), id=f"criterion-{c}")
        for c in CRITERIA.names()
    ]
    + [
        pytest.param({"strategy": "reset", "prune_method": a}, id=f"allocation-{a}")
        for a in PRUNE_METHODS.names()
    ]
    + [
        pytest.param({"strategy": "continue", "one_shot": True}, id="one-shot-continue"),
        pytest.param({"strategy": "reset", "prune_levels": "1,3"}, id="prune-levels"),
        pytest.param({"strategy": "reset", "prune_rate": 0.5}, id="prune-rate"),
        pytest.param(
            {"strategy": "rewind", "rewind_iter": K, "criterion": "hydra", "hydra_iters": 3},
            id="rewind-hydra",
        ),
    ]
)


@pytest.mark.parametrize("overrides", CASES)
def test_a_borrowed_level_0_leaves_what_training_it_here_leaves(
    tmp_path, shared, splits, overrides
):
    lender = experiment_dir(shared, config(**lender_of(overrides)))
    before = lenders_files(shared)
    cfg = config(**overrides)
    borrower = run(cfg, shared, splits)
    trained = run(cfg, tmp_path / "alone", splits, borrow_level0=False)

    record = json.loads(borrower.trial(0).level(0).borrowed.read_text())
    assert record["experiment"] == lender.path.name and record["trial"] == 0
    assert not trained.trial(0).level(0).borrowed.exists()
    assert_same_as_trained_here(borrower, trained)
    # exactly the lender's level 0 (done.json included: it says how those weights were made)
    level, source = borrower.trial(0).level(0), lender.trial(0).level(0)
    for name in TRAINED_FILES:
        assert (level.path / name).exists() == (source.path / name).exists(), name
        if (source.path / name).exists():
            assert (level.path / name).read_bytes() == (source.path / name).read_bytes(), name
    sha = {
        name: hashlib.sha256((level.path / name).read_bytes()).hexdigest()
        for name in ("final.safetensors", "init.safetensors", "masks.safetensors")
    }
    assert {k: record["sha256"][k] for k in sha} == sha
    # the lenders are only read: nothing changed, added or removed
    assert lenders_files(shared) == before
    # what reads the store sees a level trained in place: resumable, `results`, twins
    verify_trial(borrower.trial(0))
    verify_trial_states(borrower.trial(0), create_model(cfg.model.model, (1, 28, 28), 10, seed=0))
    assert fingerprint(level, None) == fingerprint(source, None)
    rows = list(iter_rows(borrower.path))
    assert rows and rows == list(iter_rows(trained.path))


# ---- what level 0 depends on -------------------------------------------------------------
def test_level0_settings_leave_out_only_what_is_declared_after_level0():
    """Every run-wide field and every component is compared unless declared `after_level0`;
    the declared ones are exactly the pruning fields and components (a reviewed list)."""
    key = level0_settings(config())
    free_fields = {n for n, meta in FIELD_META.items() if meta.get("after_level0")}
    assert free_fields == {"prune_iters", "one_shot", "prune_levels"}
    free_components = {
        slot: sorted(n for n in REGISTRIES[slot].names() if REGISTRIES[slot].cls(n).after_level0)
        for slot in SLOTS
    }
    assert free_components == {
        "attack": [],
        "strategy": sorted(STRATEGIES.names()),
        "prune_method": sorted(PRUNE_METHODS.names()),
        "criterion": sorted(CRITERIA.names()),
        "optimizer": [],
        "lr_schedule": [],
        "objective": [],
    }
    owned = {flat for slot in SLOTS for flat, _, _ in REGISTRIES[slot].settings()}
    run_wide = {n for n in FIELD_META if n not in SLOTS and not (n in SETTINGS and n in owned)}
    chosen = {slot for slot in SLOTS if slot not in ("strategy", "prune_method", "criterion")}
    assert set(key) == (run_wide - free_fields) | chosen


@pytest.mark.parametrize(
    "field, value",
    [
        ("learning_rate", 2e-3),
        ("train_iters", 12),
        ("seed", 4),
        ("eval_every", 8),
        ("batch_size", 30),
        ("eps", 0.2),
        ("label_smoothing", 0.0),
        ("test_size", 30),
        ("optimizer", "sgd"),
        ("attack", "pgd"),  # natural training: same weights, other evaluations
        ("adv_train", True),
    ],
)
def test_a_sibling_differing_in_what_level_0_reads_does_not_lend(tmp_path, splits, field, value):
    out = tmp_path / "results"
    other = run(config(strategy="reset", **{field: value}), out, splits, borrow_level0=False)
    cfg = config(strategy="continue", one_shot=True)
    assert level0_settings(cfg) != level0_settings(other.config())
    borrower = run(cfg, out, splits)
    assert not borrower.trial(0).level(0).borrowed.exists()
    assert_trained_here(borrower, run(cfg, tmp_path / "alone", splits, borrow_level0=False))


def assert_trained_here(run_: ExperimentDir, alone: ExperimentDir) -> None:
    assert not run_.trial(0).level(0).borrowed.exists()
    assert level_files(run_) == level_files(alone)


def test_other_data_is_not_borrowed(tmp_path, shared, splits):
    other = toy_splits((1, 28, 28), 240, 60, 60, seed=1)  # same config, other images
    cfg = config(strategy="continue", one_shot=True)
    borrower = run(cfg, shared, other)
    assert_trained_here(borrower, run(cfg, tmp_path / "alone", other, borrow_level0=False))


def test_a_snapshot_at_another_step_or_none_is_not_borrowed(tmp_path, splits):
    out = tmp_path / "results"
    run(config(**LENDER), out, splits, borrow_level0=False)  # no snapshot
    run(config(**{**REWIND_LENDER, "rewind_iter": K - 2}), out, splits, borrow_level0=False)
    cfg = config(strategy="rewind", rewind_iter=K)
    borrower = run(cfg, out, splits)
    assert_trained_here(borrower, run(cfg, tmp_path / "alone", splits, borrow_level0=False))


@pytest.mark.parametrize(
    "damage",
    [
        "unfinished",
        "no final",
        "truncated final",
        "no metrics",
        "no snapshot",
        "truncated snapshot",
        "no data record",
    ],
)
def test_an_unfinished_or_damaged_lender_is_not_borrowed(tmp_path, shared, splits, damage):
    lender = experiment_dir(shared, config(**REWIND_LENDER)).trial(0)
    level = lender.level(0)
    if damage == "unfinished":
        level.done.unlink()
    elif damage == "no final":
        level.final.unlink()
    elif damage == "truncated final":
        level.final.write_bytes(level.final.read_bytes()[:1000])
    elif damage == "no metrics":
        level.metrics.unlink()
    elif damage == "no snapshot":
        lender.rewind.unlink()
    elif damage == "truncated snapshot":
        lender.rewind.write_bytes(lender.rewind.read_bytes()[:1000])
    else:  # a level 0 from before done.json recorded its data
        record = json.loads(level.done.read_text())
        record.pop("data_sha256")
        level.done.write_text(json.dumps(record))
    before = lenders_files(shared)
    cfg = config(strategy="rewind", rewind_iter=K)
    borrower = run(cfg, shared, splits)
    assert_trained_here(borrower, run(cfg, tmp_path / "alone", splits, borrow_level0=False))
    assert lenders_files(shared) == before


@pytest.mark.parametrize("data_files", [False, True])
def test_a_lender_from_before_data_was_recorded_lends_only_to_runs_on_the_dataset_files(
    shared, splits, data_files
):
    """Such a lender was a command-line run (the dataset's verified files): it lends to another
    (`data_files`), never to a run whose data were handed in."""
    for overrides in (LENDER, REWIND_LENDER):
        level = experiment_dir(shared, config(**overrides)).trial(0).level(0)
        record = json.loads(level.done.read_text())
        record.pop("data_sha256")
        level.done.write_text(json.dumps(record))
    cfg = config(strategy="continue", one_shot=True)
    exp = experiment_dir(shared, cfg)
    model = create_model(cfg.model.model, (1, 28, 28), 10, seed=0)
    got = borrow_level0(exp, cfg, 0, model, splits_digest(splits), data_files=data_files)
    assert (got is not None) is data_files
    assert exp.trial(0).level(0).borrowed.exists() is data_files
    if data_files:
        assert got["lender_data_sha256"] is None
        lender = experiment_dir(shared, config(**LENDER)).trial(0).level(0)
        assert exp.trial(0).level(0).final.read_bytes() == lender.final.read_bytes()


def test_no_borrow_level0_trains_it_here(tmp_path, shared, splits):
    cfg = config(strategy="continue", one_shot=True)
    borrower = run(cfg, shared, splits, borrow_level0=False)
    assert_trained_here(borrower, run(cfg, tmp_path / "alone", splits, borrow_level0=False))


def test_force_trains_level_0_again(tmp_path, shared, splits):
    """--force asks for the trial to be trained again: its level 0 too, never a copy (a sibling
    may hold a copy of the very level 0 being redone)."""
    cfg = config(strategy="continue", one_shot=True)
    assert run(cfg, shared, splits).trial(0).level(0).borrowed.exists()
    options = RunOptions(output=shared, quiet=True, force=True)
    exp, _ = run_experiment(cfg, options, splits=splits)
    assert_trained_here(exp, run(cfg, tmp_path / "alone", splits, borrow_level0=False))


def test_a_level_0_started_here_resumes_instead(shared, splits):
    cfg = config(strategy="continue", one_shot=True)
    exp = experiment_dir(shared, cfg)
    info = exp.trial(0).level(0).info
    info.parent.mkdir(parents=True)
    info.write_text('{"level": 0, "remaining": 100.0}')
    model = create_model(cfg.model.model, (1, 28, 28), 10, seed=0)
    assert borrow_level0(exp, cfg, 0, model, splits_digest(splits)) is None


def test_each_trial_borrows_its_own_trial(tmp_path, splits):
    out = tmp_path / "results"
    lender = run(config(**LENDER), out, splits, borrow_level0=False, trials=2)
    borrower = run(config(strategy="continue", one_shot=True), out, splits, trials=2)
    for trial in (0, 1):
        record = json.loads(borrower.trial(trial).level(0).borrowed.read_text())
        assert record["trial"] == trial
        mine, theirs = borrower.trial(trial).level(0), lender.trial(trial).level(0)
        assert mine.final.read_bytes() == theirs.final.read_bytes()
    assert (
        borrower.trial(0).level(0).final.read_bytes() != lender.trial(1).level(0).final.read_bytes()
    )


# ---- never a half-copied level -------------------------------------------------------------
def test_a_copy_cut_short_leaves_nothing_and_the_next_attempt_borrows(
    tmp_path, shared, splits, monkeypatch
):
    cfg = config(strategy="rewind", rewind_iter=K, criterion="random")
    exp = experiment_dir(shared, cfg)
    real = borrow._write
    written: list[str] = []

    def dies_midway(path, content):
        written.append(path.name)
        if len(written) == 3:
            raise KeyboardInterrupt  # as a kill would: nothing after this runs
        real(path, content)

    monkeypatch.setattr(borrow, "_write", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, shared, splits)
    monkeypatch.setattr(borrow, "_write", real)
    trial = exp.trial(0)
    assert not trial.level(0).path.exists()
    assert not list(trial.path.glob(".level_00*"))
    # a copy killed for good (kill -9) leaves its hidden directory and, once the snapshot is
    # written (whole: atomically), the snapshot: the next attempt removes the one and rewrites
    # the other (here a whole state of another step: level 0's start)
    stale = trial.path / f".level_00{borrow.TEMP_MARK}12345"
    stale.mkdir()
    (stale / "final.safetensors").write_bytes(b"half")
    lender = experiment_dir(shared, config(**LENDER)).trial(0).level(0)
    shutil.copyfile(lender.init, trial.rewind)
    borrower = run(cfg, shared, splits)
    assert borrower.trial(0).level(0).borrowed.exists()
    assert not stale.exists()
    assert_same_as_trained_here(borrower, run(cfg, tmp_path / "alone", splits, False))


@pytest.mark.parametrize("borrow_level0", [True, False])
def test_what_a_copy_cut_short_left_goes_when_level_0_trains_here(
    tmp_path, lenders, splits, borrow_level0
):
    cfg = config(strategy="rewind", rewind_iter=K)
    exp = experiment_dir(tmp_path / "results", cfg)
    exp.trial(0).path.mkdir(parents=True)
    # left by a copy cut short whose lender is gone: the snapshot (a whole state, of another
    # step here) and the hidden directory
    shutil.copyfile(
        experiment_dir(lenders, config(**LENDER)).trial(0).level(0).init, exp.trial(0).rewind
    )
    (exp.trial(0).path / f".level_00{borrow.TEMP_MARK}777").mkdir()
    trained = run(cfg, tmp_path / "results", splits, borrow_level0=borrow_level0)
    assert_trained_here(trained, run(cfg, tmp_path / "alone", splits, borrow_level0=False))
    assert not list(exp.trial(0).path.glob(".level_00*"))


def test_a_failed_copy_trains_instead(tmp_path, shared, splits, monkeypatch):
    def full_disk(path, content):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(borrow, "_write", full_disk)
    cfg = config(strategy="continue", one_shot=True)
    borrower = run(cfg, shared, splits)
    assert not list(borrower.trial(0).path.glob(".level_00*"))
    monkeypatch.undo()
    assert_trained_here(borrower, run(cfg, tmp_path / "alone", splits, borrow_level0=False))


# ---- run and sweep options ---------------------------------------------------------------
def test_run_flag_reaches_the_run_and_leaves_its_name(tmp_path, monkeypatch):
    from robust_tickets import experiment
    from robust_tickets.cli.main import main

    seen = []

    def fake(config, options, splits=None):
        seen.append((options.borrow_level0, config.name()))
        return ExperimentDir(tmp_path / config.name()), [0]

    monkeypatch.setattr(experiment, "run_experiment", fake)
    for flags in ([], ["--no-borrow-level0"]):
        assert main(["run", "-q", "--train-iters", "4", "-o", str(tmp_path), *flags]) == 0
    (on, name), (off, same) = seen
    assert on is True and off is False and name == same


@pytest.mark.parametrize("borrow_level0", [True, False])
def test_sweep_jobs_pass_the_choice_on(tmp_path, monkeypatch, borrow_level0):
    from robust_tickets import experiment
    from robust_tickets.sweep.jobs import JobSpec, run_job, store_identity

    seen = {}
    monkeypatch.setattr(
        experiment, "run_experiment", lambda config, options: seen.setdefault("o", options)
    )
    spec = JobSpec(config(), 0, str(tmp_path), store_identity(tmp_path), None, "cpu", 1)
    run_job(dataclasses.replace(spec, borrow_level0=borrow_level0))
    assert seen["o"].borrow_level0 is borrow_level0


def test_the_sweep_starts_one_of_a_level_0_group_first():
    from robust_tickets.sweep.jobs import Job
    from robust_tickets.sweep.scheduler import _take
    from robust_tickets.sweep.state import JobState

    jobs = [
        Job(config(strategy="reset"), 0),
        Job(config(strategy="continue", one_shot=True), 0),  # shares the first's level 0
        Job(config(strategy="reset"), 1),
        Job(config(strategy="rewind", rewind_iter=K), 0),  # needs a snapshot the first lacks
    ]
    states = [JobState(job) for job in jobs]
    groups = {s.job.key: (s.job.level0_group(), s.job.rewind_step()) for s in states}
    reset0, continue0, reset1, rewind0 = (groups[job.key] for job in jobs)
    assert reset0[0] == continue0[0] == rewind0[0] != reset1[0]
    pending = deque(states[1:])
    # the first job is training level 0: its sibling waits, the other trial's job goes first;
    # the rewinding job gains nothing from waiting for a level 0 without its snapshot
    assert _take(pending, [reset0], groups) is states[2]
    assert _take(pending, [reset0], groups) is states[3]
    assert _take(pending, [reset0], groups) is states[1]  # rather than leave a slot idle
    pending = deque(states[1:])
    assert _take(pending, [], groups) is states[1]
    # a rewinding job training level 0 holds back every sibling: it can lend to all of them
    pending = deque([states[0], states[1], states[2]])
    assert _take(pending, [rewind0], groups) is states[2]


class Recorder:
    """An executor that starts nothing: it records each job's spec in order and fails it."""

    description = "records"

    def __init__(self, slots: int):
        self.slots, self.specs, self.running = slots, [], []

    def prepare(self, spec):
        return spec

    def submit(self, key, spec):
        self.specs.append(spec)
        self.running.append(key)

    def wait(self, timeout):
        from robust_tickets.sweep.executors.base import Outcome

        done, self.running = self.running, []
        return [(key, Outcome(ok=False, error="not run")) for key in done]

    def shutdown(self):
        pass


def test_the_sweep_starts_a_job_keeping_a_snapshot_first(tmp_path):
    """Of jobs of one trial and length, one keeping a snapshot of level 0 starts first: it can
    lend its level 0 to the others, they cannot lend theirs to it."""
    from robust_tickets.sweep.jobs import Job
    from robust_tickets.sweep.scheduler import run_sweep

    jobs = [Job(config(strategy="reset"), 0), Job(config(strategy="rewind", rewind_iter=K), 0)]
    for borrowing, first in ((True, jobs[1]), (False, jobs[0])):
        executor = Recorder(slots=1)
        run_sweep(jobs, executor, tmp_path / str(borrowing), retries=0, borrow_level0=borrowing)
        assert executor.specs[0].config == first.config


@pytest.mark.parametrize("borrow_level0", [True, False])
def test_run_sweep_hands_the_choice_to_every_job(tmp_path, borrow_level0):
    from robust_tickets.sweep.jobs import Job
    from robust_tickets.sweep.scheduler import run_sweep

    executor = Recorder(slots=2)
    jobs = [Job(config(strategy="reset"), 0), Job(config(strategy="rewind", rewind_iter=K), 0)]
    run_sweep(jobs, executor, tmp_path, retries=0, borrow_level0=borrow_level0)
    assert [spec.borrow_level0 for spec in executor.specs] == [borrow_level0] * 2


def test_the_data_digest_takes_an_empty_split():
    """A run without validation images (valid_size 0) hashes its data like any other."""
    empty, some = toy_splits((1, 8, 8), 30, 0, 10), toy_splits((1, 8, 8), 30, 5, 10)
    assert len(empty.valid.y) == 0
    digest = splits_digest(empty)
    assert len(digest) == 64 and digest != splits_digest(some)
    assert digest == splits_digest(toy_splits((1, 8, 8), 30, 0, 10))  # the same data, rebuilt


def test_the_report_header_does_not_count_a_copied_level_0s_time(shared, splits):
    """A borrowed level 0 carries its lender's done.json (how the weights were made); its
    seconds are the lender's, so the borrower's report leaves them out and says so."""
    from robust_tickets.report.header import run_info
    from robust_tickets.report.load import load_series

    borrower = run(config(strategy="reset", criterion="random", prune_iters=1), shared, splits)
    assert borrower.trial(0).level(0).borrowed.is_file()
    (series,) = [s for s in load_series([shared]) if borrower.path in s.paths]
    info = run_info(series)
    own = json.loads(borrower.trial(0).level(1).done.read_text())["seconds_this_session"]
    assert info["copied_levels"] == 1
    assert info["level_seconds"] == pytest.approx(own)
