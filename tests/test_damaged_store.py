"""A damaged results store is named, never a traceback: which file, what to do, exit code 2,
and nothing written by the command that found it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.conftest import one_line_error

from robust_tickets import claims
from robust_tickets.cli.main import main
from robust_tickets.evaluation.store import RobustnessDir
from robust_tickets.models import create_model
from robust_tickets.models.ticket import state
from robust_tickets.store import ExperimentDir, find_experiments, load_tensors, save_tensors

RUN = ["--train-iters", "4", "--eval-every", "2", "--prune-iters", "1", "--seed", "5", "-q"]
RUN += ["--valid-size", "1000", "--test-size", "500"]  # small evaluations: faster, same checks
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
    # readable but wrong: a finished level's rows gone, a config edited into another experiment
    "metrics-empty": ("trial_0/level_01/metrics.csv", lambda p: p.write_text("")),
    "metrics-header-only": (
        "trial_0/level_01/metrics.csv",
        lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"),
    ),
    "config-identity": ("config.yaml", lambda p: _edit_criterion(p)),
}


def _edit_criterion(path: Path) -> None:
    """What a hand edit does: the magnitude run's config now says random (a valid config)."""
    text = path.read_text()
    spec = "criterion:\n      name: magnitude"  # the {name, params} spec a config stores
    assert spec in text
    path.write_text(text.replace(spec, spec.replace("magnitude", "random")))


def _replace_tensor(path: Path, name: str | None = None, value=None) -> None:
    """Rewrite a safetensors file with one tensor replaced (default: the first by a [1])."""
    tensors = load_tensors(path)
    name = name or sorted(tensors)[0]
    tensors[name] = torch.ones(1) if value is None else value
    save_tensors(path, tensors)


def _other_model_state(path: Path) -> None:
    """The whole state of another network (LeNet-5's, in a 784-300-100 run)."""
    other = create_model("lenet5", (1, 28, 28), 10, seed=0)
    save_tensors(path, state(other))


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


def _unknown_setting(path: Path) -> None:
    """What a newer version's config looks like to this one: a component setting it lacks."""
    text = path.read_text()
    spec = "criterion:\n      name: magnitude\n      params: {}"
    assert spec in text
    path.write_text(text.replace(spec, spec.replace("{}", "{sharpness: 2}")))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_config_with_a_setting_this_version_lacks_says_upgrade(store, tmp_path, capsys, command):
    root, exp = _copy(store, tmp_path)
    _unknown_setting(exp / "config.yaml")
    before = _snapshot(root)
    capsys.readouterr()
    assert main(COMMANDS[command](root)) == 2
    line = one_line_error(capsys, str(exp / "config.yaml"), "newer robust-tickets")
    assert "sharpness" in line and "upgrade" in line
    assert _snapshot(root) == before


@pytest.mark.parametrize(
    "relative, spoil, advice",
    [
        ("trial_0/level_01/final.safetensors", _truncate, "--force"),
        ("trial_0/level_01/masks.safetensors", _garbage, "--force"),
        ("trial_0/level_01/robustness/examples.safetensors", _truncate, "rerun"),
        ("config.yaml", lambda p: p.write_text("config: {train: 3}\n"), "restore"),
        # readable but wrong: loading would broadcast the [1] over the whole weight (6% stored)
        ("trial_0/level_01/final.safetensors", _replace_tensor, "--force"),
        ("trial_0/level_00/final.safetensors", _replace_tensor, "--force"),  # the surrogate
        ("trial_0/level_01/masks.safetensors", _replace_tensor, "--force"),
        ("trial_0/level_01/final.safetensors", _other_model_state, "--force"),
        ("config.yaml", _edit_criterion, "restore"),
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
        # readable but of another model, or with a tensor replaced: names and shapes checked
        ("trial_0/level_01/init.safetensors", _other_model_state, "--force"),
        ("trial_0/level_01/init.safetensors", _replace_tensor, "--force"),
        ("trial_0/level_00/final.safetensors", _replace_tensor, "--force"),  # the next start
        ("trial_0/level_01/masks.safetensors", _replace_tensor, "--force"),
        ("config.yaml", _edit_criterion, "restore"),
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


def test_a_second_evaluate_of_a_level_being_evaluated_stops_and_loses_nothing(
    store, tmp_path, capsys
):
    """Two evaluates of one level at once each wrote back only their own entries (one's rows
    were lost, and the worst case then overstated robustness): the second now stops before
    writing anything, naming the holder, and a claim whose owner died is broken."""
    root, exp = _copy(store, tmp_path)
    level = ExperimentDir(exp).trial(0).level(1)
    lock = RobustnessDir.of(level).lock
    held = claims.try_claim(lock)  # held by this test's process: alive
    assert held is not None
    before = _snapshot(root)
    capsys.readouterr()
    assert main(["evaluate", str(root), *EVAL, "--eps", "0.2"]) == 2
    one_line_error(capsys, str(lock.resolve()), "being evaluated by another process", "rerun")
    assert _snapshot(root) == before  # level 0 (free) was not evaluated alone either
    claims.release(held)

    stored = set(RobustnessDir.of(level).load())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process that is gone, as after kill -9
    owner = {"host": socket.gethostname(), "pid": dead.pid, "time": 0, "token": "x"}
    lock.write_text(json.dumps(owner))
    assert main(["evaluate", str(root), *EVAL, "--eps", "0.2"]) == 0
    now = RobustnessDir.of(level).load()
    assert stored < set(now)  # the earlier rows kept, the new ones added
    assert {e.eps for e in now.values()} >= {0.1, 0.2}
    assert not lock.exists()  # released at the end
