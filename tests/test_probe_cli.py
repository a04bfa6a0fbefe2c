"""The probe's remaining failures (issue 25): each exits 2 with one line and loses nothing.

Unbounded criterion steps, out of memory, symbolic-link loops and duplicates, empty output
paths, and a full disk while a dataset is put in place."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from tests.conftest import files_under, one_line_error

from robust_tickets import limits
from robust_tickets.cli.main import main
from robust_tickets.errors import UserError
from robust_tickets.resolve import from_flat
from robust_tickets.store import find_experiments

# A real but tiny run: cheap evaluations on the first 500 validation and test images.
RUN = [
    *("--train-iters", "4", "--eval-every", "2", "--prune-iters", "1", "--seed", "5"),
    *("--valid-size", "500", "--test-size", "500", "--threads", "1", "-q"),
]
CPU_OOM = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 10223616000 bytes. Error code 12 (Cannot allocate memory)"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory, fashion) -> Path:
    root = tmp_path_factory.mktemp("probe") / "results"
    assert main(["run", *RUN, "-o", str(root)]) == 0
    return root


# ---- unbounded criterion steps ----------------------------------------------------------------
@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--criterion", "hydra", "--hydra-iters", "99999999999999999999"], "hydra_iters"),
        (["--criterion", "snip", "--snip-batches", "99999999999999999999"], "snip_batches"),
        (["--hydra-iters", str(limits.MAX_CRITERION_STEPS + 1)], "hydra_iters"),
        (["--snip-batches", str(limits.MAX_CRITERION_STEPS + 1)], "snip_batches"),
    ],
)
def test_run_bounds_the_criterion_steps(tmp_path, capsys, flags, needle):
    out = tmp_path / "out"
    assert main(["run", *RUN, *flags, "-o", str(out)]) == 2
    one_line_error(capsys, needle, "at most 1,000,000")
    assert not out.exists()


def test_the_bound_is_exact():
    top = limits.MAX_CRITERION_STEPS
    config = from_flat({"criterion": "hydra", "hydra_iters": top, "snip_batches": top})
    assert config.prune.criterion.params.iters == top
    with pytest.raises(UserError, match="hydra_iters must be at most"):
        from_flat({"criterion": "hydra", "hydra_iters": top + 1})


@pytest.mark.parametrize("field", ["hydra_iters", "snip_batches"])
def test_sweep_dry_run_bounds_the_criterion_steps(tmp_path, capsys, field):
    criterion = "hydra" if field == "hydra_iters" else "snip"
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"base: {{criterion: {criterion}, {field}: 99999999999999999999}}\n")
    out = tmp_path / "out"
    assert main(["sweep", str(grid), "--dry-run", "--no-estimate", "-o", str(out)]) == 2
    one_line_error(capsys, field, "at most")
    assert not out.exists()


# ---- empty output paths -----------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["run", *RUN, "-o", ""],
        ["run", *RUN, "--output="],
        ["sweep", "GRID", "-o", ""],
        ["sweep", "GRID", "--dry-run", "--output", " "],
        ["report", "DIR", "--out", ""],
        ["results", "DIR", "--csv", ""],
        ["data", "fetch", "mnist", "--data-dir", ""],
        ["evaluate", "DIR", "--data-dir", ""],
    ],
)
def test_an_empty_output_path_is_refused(tmp_path, monkeypatch, capsys, argv):
    grid = tmp_path / "grid.yaml"
    grid.write_text("base: {train_iters: 4, eval_every: 2, prune_iters: 0}\n")
    (tmp_path / "DIR").mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    argv = [str(grid) if a == "GRID" else str(tmp_path / "DIR") if a == "DIR" else a for a in argv]
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    one_line_error(capsys, "empty path")
    assert list(cwd.iterdir()) == []


def test_an_empty_output_in_a_config_file_is_refused(tmp_path, monkeypatch, capsys):
    config = tmp_path / "run.yaml"
    config.write_text('output: ""\ntrain_iters: 4\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--config", str(config), "-q"]) == 2
    one_line_error(capsys, "output", "is empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]


# ---- symbolic links: no loop, no experiment twice ------------------------------------------
def test_discovery_follows_links_but_never_loops_or_repeats(tmp_path):
    root = tmp_path / "results"
    for name in ("exp-a", "exp-b", "group/exp-c"):
        (root / name).mkdir(parents=True)
        (root / name / "config.yaml").write_text("config: {}\n")
    outside = tmp_path / "elsewhere" / "exp-d"
    outside.mkdir(parents=True)
    (outside / "config.yaml").write_text("config: {}\n")
    os.symlink(".", root / "loop")  # the probe's case
    os.symlink("..", root / "group" / "up")  # a loop one level down
    os.symlink(root / "exp-a", root / "alias-of-a")  # a second path to one experiment
    os.symlink(outside, root / "linked")  # a link to an experiment elsewhere: followed
    os.symlink("self", root / "self")  # a link to itself
    found = [p.path.relative_to(root) for p in find_experiments(root)]
    assert sorted(map(str, found)) == ["alias-of-a", "exp-b", "group/exp-c", "linked"]
    assert len({os.path.realpath(root / p) for p in found}) == len(found) == 4


def test_results_and_evaluate_see_each_experiment_once_through_a_loop(store, capsys):
    from robust_tickets.evaluation.runner import find_experiment_dirs

    assert main(["results", str(store), "--json"]) == 0
    rows = capsys.readouterr().out.splitlines()
    loop = store / "loop"
    os.symlink(".", loop)
    try:
        assert main(["results", str(store), "--json"]) == 0
        assert capsys.readouterr().out.splitlines() == rows  # not 12 rows per level of links
        assert len(find_experiment_dirs([store])) == 1  # what `evaluate` attacks
    finally:
        loop.unlink()
    assert len(rows) == 12  # 2 levels x 3 evaluations (iterations 0, 2, 4) x (valid, test)


# ---- out of memory ----------------------------------------------------------------------
def _oom_on_level(monkeypatch, failing_level: int, error: BaseException) -> None:
    """Make training run out of memory at its first step of `failing_level`, after the level's
    start (masks, init, iteration-0 metrics and checkpoint) is on disk, as a real one does."""
    from robust_tickets.engine import feed

    real = feed.make_stepper
    calls = []

    def make_stepper(*args, **kwargs):
        calls.append(1)
        stepper = real(*args, **kwargs)
        if len(calls) - 1 == failing_level:

            class Failing:
                def step(self, *a, **k):
                    raise error

            return Failing()
        return stepper

    monkeypatch.setattr(feed, "make_stepper", make_stepper)


@pytest.mark.parametrize("error", [RuntimeError(CPU_OOM), MemoryError()])
def test_run_out_of_memory_is_one_line_and_leaves_no_half_made_run(
    tmp_path, capsys, monkeypatch, fashion, error
):
    out = tmp_path / "out"
    _oom_on_level(monkeypatch, 0, error)
    assert main(["run", *RUN, "-o", str(out)]) == 2
    err = one_line_error(capsys, "out of memory", "--batch-size")
    if isinstance(error, RuntimeError):
        assert "9.5 GiB" in err
    assert not out.exists()  # the results directory was made by this command: gone


def test_run_out_of_memory_keeps_finished_levels_and_earlier_results(
    tmp_path, capsys, monkeypatch, store
):
    out = tmp_path / "out"
    shutil.copytree(store, out)  # an earlier experiment in the same results directory
    before = files_under(out)
    earlier = {e.path for e in find_experiments(out)}
    _oom_on_level(monkeypatch, 1, RuntimeError(CPU_OOM))
    assert main(["run", *RUN, "--seed", "6", "-o", str(out)]) == 2
    one_line_error(capsys, "out of memory")
    assert {k: v for k, v in files_under(out).items() if k in before} == before
    (new,) = {e.path for e in find_experiments(out)} - earlier
    # a finished level is a result: kept, with the next level's start, so the same command
    # resumes there once memory allows
    assert (new / "trial_0" / "level_00" / "done.json").is_file()
    assert not (new / "trial_0" / "level_01" / "done.json").exists()


def test_run_out_of_memory_on_resume_removes_nothing(tmp_path, capsys, monkeypatch, fashion):
    out = tmp_path / "out"
    _oom_on_level(monkeypatch, 0, RuntimeError(CPU_OOM))
    assert main(["run", *RUN, "--seed", "8", "-o", str(out), "--train-iters", "6"]) == 2
    capsys.readouterr()
    assert not out.exists()
    # a first attempt leaves a checkpoint when it is interrupted (Ctrl-C): that one is kept
    monkeypatch.undo()
    _oom_on_level(monkeypatch, 0, KeyboardInterrupt())
    assert main(["run", *RUN, "--seed", "8", "-o", str(out), "--train-iters", "6"]) == 130
    capsys.readouterr()
    before = files_under(out)
    assert any(p.endswith("checkpoint.safetensors") for p in before)
    monkeypatch.undo()
    _oom_on_level(monkeypatch, 0, RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert main(["run", *RUN, "--seed", "8", "-o", str(out), "--train-iters", "6"]) == 2
    one_line_error(capsys, "out of memory (an allocation of 2.00 GiB failed)")
    assert files_under(out) == before


def test_evaluate_out_of_memory_is_one_line_and_writes_nothing(
    store, tmp_path, capsys, monkeypatch
):
    from robust_tickets.evaluation import attacks

    root = tmp_path / "results"
    shutil.copytree(store, root)
    before = files_under(root)
    fgsm = attacks.EVAL_ATTACKS.cls("fgsm")

    def make(*args, **kwargs):
        raise RuntimeError(CPU_OOM)

    monkeypatch.setitem(attacks.EVAL_ATTACKS._items, "fgsm", type("Oom", (fgsm,), {"make": make}))
    argv = ["evaluate", str(root), "--attacks", "fgsm", "--eps", "0.1", "--no-checks", "-q"]
    assert main([*argv, "--n-examples", "20"]) == 2
    one_line_error(capsys, "out of memory", "lower --batch-size")
    left = {k for k in files_under(root) if k not in before}
    assert not [k for k in left if ".tmp" in k or "partial" in k], left
    assert {k: v for k, v in files_under(root).items() if k in before} == before


def test_a_runtime_error_that_is_not_memory_keeps_its_traceback(monkeypatch, tmp_path):
    from robust_tickets.cli import results

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(results, "handle", broken)
    (tmp_path / "d").mkdir()
    with pytest.raises(RuntimeError, match="a bug"):
        main(["results", str(tmp_path / "d")])


# ---- a full disk while a dataset is put in place names the target ----------------------------
def _enospc(*args, **kwargs):
    src, dst = args[0], args[1]
    Path(dst).write_bytes(b"partial")  # what a copy that ran out of space leaves
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))
    error.filename2 = str(dst)  # as shutil's sendfile copy reports it: the source first
    raise error


def test_data_fetch_on_a_full_disk_names_the_target(tmp_path, capsys, monkeypatch, fashion):
    from robust_tickets.data import fetch
    from robust_tickets.data.locate import locate
    from robust_tickets.data.registry import DATASETS

    source = locate(DATASETS.get("fashion_mnist"))
    assert source is not None
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setattr(fetch.shutil, "copyfile", _enospc)
    assert main(["data", "fetch", "fashion_mnist", "--data-dir", str(data_dir)]) == 2
    err = one_line_error(capsys, str(data_dir / "fashion_mnist"), "No space left", "--data-dir")
    assert str(source) not in err
    assert list(data_dir.iterdir()) == []  # no staging directory, no half-copied file


def test_a_download_on_a_full_disk_is_not_a_connection_failure(tmp_path, monkeypatch):
    from robust_tickets.data import download

    served = tmp_path / "served.bin"
    served.write_bytes(b"x" * 200_000)
    dest = tmp_path / "got" / "file.gz"
    dest.parent.mkdir()

    class FullDisk:
        def __init__(self, *args, **kwargs):
            self.file = open(*args, **kwargs)  # noqa: SIM115

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(download, "open", FullDisk, raising=False)
    with pytest.raises(OSError) as caught:
        download.download(served.as_uri(), dest, quiet=True)
    assert not isinstance(caught.value, download.DownloadError)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(dest)
    assert list(dest.parent.iterdir()) == []  # no .part left
    # and a real download of the same file works (file:// URLs go through the same code)
    monkeypatch.undo()
    assert download.download(served.as_uri(), dest, quiet=True) == dest
    assert dest.read_bytes() == served.read_bytes()
