"""Bad input and filesystem faults, as a careful tester tries them: one line, exit code 2,
nothing written or overwritten."""

from __future__ import annotations

import errno
import os
import shutil
import tracemalloc
from pathlib import Path

import pytest
from tests.conftest import files_under, one_line_error

from robust_tickets.cli.main import main
from robust_tickets.report.aggregate import table_iteration
from robust_tickets.resolve import from_flat
from robust_tickets.store import find_experiments

RUN = ["--train-iters", "4", "--eval-every", "2", "--prune-iters", "1", "--seed", "7", "-q"]
RUN += ["--valid-size", "1000", "--test-size", "500"]  # small evaluations: faster, same checks


@pytest.fixture(scope="module")
def store(tmp_path_factory, fashion) -> Path:
    root = tmp_path_factory.mktemp("store") / "results"
    assert main(["run", *RUN, "-o", str(root)]) == 0
    return root


# ---- 2: every non-finite or out-of-range number -------------------------------------------
@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--eps", "inf"], "eps"),
        (["--eps=-inf"], "eps"),
        (["--eps", "1.5"], "eps"),
        (["--eps", "300/255"], "eps"),
        (["--learning-rate", "inf"], "learning_rate"),
        (["--l1-reg", "inf"], "l1_reg"),
        (["--l1-reg=-inf"], "l1_reg"),
        (["--step-size", "inf"], "step_size"),
        (["--label-smoothing", "nan"], "label_smoothing"),
        (["--prune-rate", "inf"], "prune_rate"),
        (["--train-iters", "1000000000000"], "train_iters"),
        (["--batch-size", "99999999"], "batch_size"),
        (["--steps", "10000000"], "steps"),
        (["--prune-iters", "100000"], "prune_iters"),
        (["--trials", "100000"], "--trials"),
        (["--jobs", "100000"], "--jobs"),
        (["--threads", "100000"], "--threads"),
        # level 0 would stop before the rewind point is saved (was: "rewind.safetensors is damaged")
        (["--strategy", "rewind", "--rewind-iter", "3", "--stop-step", "2"], "stop_step"),
        (["--strategy", "rewind", "--rewind-iter", "1000000"], "train_iters"),
    ],
)
def test_run_refuses_non_finite_and_out_of_range_numbers(tmp_path, capsys, flags, needle):
    out = tmp_path / "out"
    assert main(["run", *RUN, *flags, "-o", str(out)]) == 2
    one_line_error(capsys, needle)
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--check-eps=-0.1"], "--check-eps"),
        (["--check-eps", "inf"], "--check-eps"),
        (["--check-eps", "nan"], "--check-eps"),
        (["--eps", "0.1,inf"], "--eps"),
        (["--eps=-inf"], "--eps"),
        (["--eps="], "--eps is empty"),
        (["--check-eps", "300/255"], "--check-eps"),
        (["--pgd-steps", "10000000"], "--pgd-steps"),
        (["--batch-size", "0"], "--batch-size"),
        (["--n-examples", "0"], "--n-examples"),
        (["--levels", "7"], "finished levels: 0, 1"),
        (["--levels", "1,7"], "--levels 7"),
        (["--levels="], "--levels is empty"),
        (["--trials", "3"], "trials found: 0"),
        (["--trials", "1", "--levels", "0"], "--trials 1"),
    ],
)
def test_evaluate_refuses_bad_numbers_and_selections_that_match_nothing(
    store, capsys, flags, needle
):
    before = files_under(store)
    assert main(["evaluate", str(store), "--attacks", "fgsm", "--no-checks", "-q", *flags]) == 2
    one_line_error(capsys, needle)
    assert files_under(store) == before


@pytest.mark.parametrize("flags", [["--cpus-per-job", "inf"], ["--gpus-per-job", "nan"]])
def test_sweep_refuses_non_finite_resources(tmp_path, capsys, flags):
    grid = tmp_path / "grid.yaml"
    grid.write_text("base: {train_iters: 4, eval_every: 2, prune_iters: 0}\n")
    out = tmp_path / "out"
    assert main(["sweep", str(grid), "--executor", "ray", *flags, "-o", str(out)]) == 2
    one_line_error(capsys, flags[0])
    assert not out.exists()


def test_the_report_never_lists_every_possible_evaluation():
    config = from_flat({"train_iters": 100_000_000, "eval_every": 1})
    tracemalloc.start()
    try:
        assert table_iteration(config, 30_000) == 30_000
        assert table_iteration(config, 10**12) == 100_000_000
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # listing the 10^8 evaluation points would take gigabytes
    every = from_flat({"train_iters": 1000, "eval_every": 300})
    assert [table_iteration(every, a) for a in (-5, 0, 299, 300, 950, 999, 1000)] == [
        0,
        0,
        0,
        300,
        900,
        900,
        1000,
    ]


# ---- 7: config files say what they ignore ---------------------------------------------------
@pytest.mark.parametrize(
    "command, text, needle",
    [
        ("run", "eps: 0.1\ntrain_iters: 4\neps: 0.3\n", "'eps' is given twice"),
        ("run", "train:\n  train_iters: 4\n  train_iters: 5\n", "'train_iters' is given twice"),
        ("sweep", "base: {eps: 0.1}\naxes:\n  attack: [fgsm]\n  attack: [pgd]\n", "'attack'"),
        ("sweep", "base: {}\nbase: {eps: 0.1}\n", "'base' is given twice"),
        ("sweep", "# only a comment\n", "is empty"),
        ("sweep", "", "is empty"),
        ("sweep", "base: {trials: 1000000000}\n", "base.trials must be at most"),
        ("sweep", "axes: {trial: [99999999999]}\n", "trial must be at most"),
        ("sweep", "base: {eps: .inf}\n", "eps must be a finite number"),
        ("run", "trials: 1000000000\n", "--trials must be at most"),
    ],
)
def test_config_files_refuse_what_they_would_ignore(tmp_path, capsys, command, text, needle):
    path = tmp_path / "file.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    flag = ["--config", str(path)] if command == "run" else [str(path), "--dry-run"]
    assert main([command, *flag, "-o", str(out)]) == 2
    one_line_error(capsys, needle)
    assert not out.exists()


# ---- 3 and 5: output paths that cannot be written, and the store is never a target ----------
def _targets(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    afile = tmp_path / "a-file"
    afile.write_text("mine\n")
    return {
        "is-a-file": (afile, str(afile)),
        "under-a-file": (afile / "sub", f"{afile} is a file"),
        "proc": (Path("/proc/robust-tickets-test/out"), "/proc/robust-tickets-test"),
    }


def _command(kind: str, store: Path, target: Path, tmp_path: Path) -> list[str]:
    if kind == "run":
        return ["run", *RUN, "-o", str(target)]
    if kind == "sweep":
        grid = tmp_path / "grid.yaml"
        grid.write_text("base: {train_iters: 4, eval_every: 2, prune_iters: 0}\n")
        return ["sweep", str(grid), "-q", "-o", str(target)]
    if kind == "report":
        return ["report", str(store), "--out", str(target)]
    return ["results", str(store), "--csv", str(target)]


@pytest.mark.parametrize("where", ["is-a-file", "under-a-file", "proc"])
@pytest.mark.parametrize("kind", ["run", "sweep", "report", "results"])
def test_unwritable_outputs_areone_line_error(store, tmp_path, capsys, kind, where):
    if kind == "results" and where == "is-a-file":
        where = "under-a-file"  # an existing plain file is replaced, as asked
    target, needle = _targets(tmp_path)[where]
    before = files_under(store)
    assert main(_command(kind, store, target, tmp_path)) == 2
    one_line_error(capsys, needle)
    assert (tmp_path / "a-file").read_text() == "mine\n"
    assert files_under(store) == before


@pytest.mark.parametrize(
    "kind, code",
    [(k, c) for k in ("run", "results") for c in (errno.ENOSPC, errno.EROFS, errno.EACCES)]
    + [("report", errno.ENOSPC)],  # a report is slow to build: one errno is enough there
)
def test_a_full_or_read_only_disk_is_one_line_and_leaves_nothing(
    store, tmp_path, capsys, monkeypatch, kind, code
):
    target = tmp_path / ("out.csv" if kind == "results" else "out")
    if kind != "run":  # an earlier output that the failed write must leave alone
        assert main(_command(kind, store, target, tmp_path)) == 0
    earlier = files_under(tmp_path)
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    if kind == "report":  # the report writes with plain writes: fail its index page
        from robust_tickets.report import build

        def failing(*args, **kwargs):
            raise OSError(code, os.strerror(code), "index.html")

        monkeypatch.setattr(build, "render_page", failing)
    capsys.readouterr()
    assert main(_command(kind, store, target, tmp_path)) == 2
    monkeypatch.setattr(os, "fsync", real_fsync)
    one_line_error(capsys, os.strerror(code))
    left = {p for p in files_under(tmp_path) if ".tmp" in p or ".old-" in p}
    assert not left
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name or ".old-" in p.name]
    if kind == "run":
        assert not list(target.rglob("*.safetensors")) and not list(target.rglob("*.yaml"))
    else:
        assert files_under(tmp_path) == earlier


def test_a_report_killed_mid_write_is_cleaned_up_by_the_next(store, tmp_path):
    out = tmp_path / "report"
    dead = tmp_path / ".report.tmp-999999999-abcd"  # no such pid: its writer was killed
    alive = tmp_path / f".report.tmp-{os.getpid()}-efgh"  # a writer still at work
    legacy = tmp_path / ".report.tmp-ijkl"  # an older version's, from two hours ago
    for leftover in (dead, alive, legacy):
        (leftover / "figures").mkdir(parents=True)
    os.utime(legacy, (0, 0))
    assert main(["report", str(store), "--out", str(out)]) == 0
    assert (out / "index.html").is_file()
    assert not dead.exists() and not legacy.exists() and alive.exists()


@pytest.mark.parametrize(
    "relative",
    ["results/all.csv", "{exp}/metrics.csv", "{exp}/config.yaml", "{exp}/trial_0/level_00/x.csv"],
)
def test_results_csv_never_writes_into_a_store(store, tmp_path, capsys, relative):
    root = tmp_path / "results"
    shutil.copytree(store, root)
    exp = next(find_experiments(root)).path
    head, _, rest = relative.partition("/")
    target = (exp if head == "{exp}" else tmp_path / head) / rest
    before = files_under(root)
    assert main(["results", str(root), "--csv", str(target)]) == 2
    one_line_error(capsys, "outside any results store")
    assert files_under(root) == before
    # nor into another store that was not named
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert main(["results", str(other), "--csv", str(exp / "t.csv")]) == 2
    assert main(["results", str(root), "--csv", str(tmp_path / "table.csv")]) == 0
    assert (tmp_path / "table.csv").read_text().startswith("experiment,")
