"""A damaged results store is named, never a traceback: which file, what to do, exit code 2,
and nothing written by the command that found it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import one_line_error

from robust_tickets.cli.main import main
from robust_tickets.store import find_experiments

RUN = ["--train-iters", "4", "--eval-every", "2", "--prune-iters", "1", "--seed", "5", "-q"]
EVAL = ["--attacks", "fgsm", "--eps", "0.1", "--n-examples", "20", "--no-checks", "-q"]


@pytest.fixture(scope="module")
def store(tmp_path_factory, fashion) -> Path:
    """A finished two-level run with an evaluation of both levels."""
    root = tmp_path_factory.mktemp("store") / "results"
    assert main(["run", *RUN, "-o", str(root)]) == 0
    assert main(["evaluate", str(root), *EVAL]) == 0
    return root


def _copy(store: Path, tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "results"
    shutil.copytree(store, root)
    return root, next(find_experiments(root)).path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:50])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\xff\xfe\x00garbage" * 3)


DAMAGE = {
    "metrics-bytes": ("trial_0/level_01/metrics.csv", _garbage),
    "metrics-words": (
        "trial_0/level_01/metrics.csv",
        lambda p: p.write_text(p.read_text().replace("\n2,", "\ntwo,", 1)),
    ),
    "config-syntax": ("config.yaml", lambda p: p.write_text("config: [unclosed\n")),
    "config-values": ("config.yaml", lambda p: p.write_text(p.read_text().replace("0.3", "x"))),
    "config-shape": ("config.yaml", lambda p: p.write_text("- just a list\n")),
    "level-json": ("trial_0/level_01/level.json", lambda p: p.write_text("{}")),
    "robustness-csv": ("trial_0/level_01/robustness/robustness.csv", _garbage),
    "robustness-words": (
        "trial_0/level_01/robustness/robustness.csv",
        lambda p: p.write_text("attack,params,eps,n,correct,acc,role,seconds\nfgsm,,x,1,1,1,c,1\n"),
    ),
}
COMMANDS = {
    "results": lambda root: ["results", str(root), "--json", "--eval"],
    "report": lambda root: ["report", str(root), "--out", str(root.parent / "report")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_readers_name_the_damaged_file(store, tmp_path, capsys, damage, command):
    root, exp = _copy(store, tmp_path)
    relative, spoil = DAMAGE[damage]
    spoil(exp / relative)
    before = _snapshot(root)
    capsys.readouterr()
    assert main(COMMANDS[command](root)) == 2
    one_line_error(capsys, str(exp / relative), "damaged")
    assert _snapshot(root) == before
    assert not (root.parent / "report").exists()


@pytest.mark.parametrize(
    "relative, spoil, advice",
    [
        ("trial_0/level_01/final.safetensors", _truncate, "--force"),
        ("trial_0/level_01/masks.safetensors", _garbage, "--force"),
        ("trial_0/level_01/robustness/examples.safetensors", _truncate, "rerun"),
        ("config.yaml", lambda p: p.write_text("config: {train: 3}\n"), "restore"),
    ],
)
def test_evaluate_names_the_damaged_file(store, tmp_path, capsys, relative, spoil, advice):
    root, exp = _copy(store, tmp_path)
    spoil(exp / relative)
    before = _snapshot(root)
    capsys.readouterr()
    assert main(["evaluate", str(root), *EVAL, "--eps", "0.2"]) == 2
    one_line_error(capsys, str(exp / relative), advice)
    assert _snapshot(root) == before


@pytest.mark.parametrize(
    "relative, spoil, advice",
    [
        ("trial_0/level_01/checkpoint.safetensors", _truncate, "level restarts"),
        ("trial_0/level_01/checkpoint.safetensors", _garbage, "remove it"),
        ("trial_0/level_00/init.safetensors", _truncate, "--force"),
        ("trial_0/level_00/final.safetensors", _garbage, "--force"),
        ("trial_0/level_01/metrics.csv", _garbage, "--force"),
    ],
)
def test_a_resuming_run_names_the_damaged_file(store, tmp_path, capsys, relative, spoil, advice):
    root, exp = _copy(store, tmp_path)
    level = exp / "trial_0" / "level_01"
    (level / "done.json").unlink()  # the level is unfinished: the run resumes it
    shutil.copy(level / "final.safetensors", level / "checkpoint.safetensors")
    spoil(exp / relative)
    before = _snapshot(root)
    capsys.readouterr()
    assert main(["run", *RUN, "-o", str(root)]) == 2
    one_line_error(capsys, str(exp / relative), advice)
    assert _snapshot(root) == before
