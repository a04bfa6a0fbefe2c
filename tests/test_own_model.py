"""Your own network (`--model path/to/file.py:function`, `package.module:function`): it trains,
prunes, evaluates and exports by the documented commands; its source is part of the run's
identity; its initialisation is its own, seeded; what is wrong with it is one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from tests.conftest import files_under, small_config
from tests.test_cli import TINY, assert_one_line_error, cli

from robust_tickets import api
from robust_tickets.cli.main import main
from robust_tickets.models import MODELS, create_model, reinitialise
from robust_tickets.resolve import from_flat
from robust_tickets.store import load_tensors

NETS = textwrap.dedent(
    """
    import torch
    from torch import nn


    def build(input_shape, num_classes):
        channels, height, width = input_shape
        return nn.Sequential(
            nn.Conv2d(channels, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * height * width, 32),
            nn.ReLU(),
            nn.Linear(32, num_classes),
        )


    def no_args():
        return build((1, 28, 28), 10)


    def by_keyword(*, num_classes, input_shape):
        return build(input_shape, num_classes)


    def not_a_module(input_shape, num_classes):
        return "a string"


    def wrong_classes(input_shape, num_classes):
        return build(input_shape, num_classes + 1)


    def nothing_prunable(input_shape, num_classes):
        return nn.Sequential(nn.Flatten(), nn.ReLU())


    def raises(input_shape, num_classes):
        raise ValueError("no such width")
    """
)


@pytest.fixture
def nets(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nets.py").write_text(NETS)
    return tmp_path / "nets.py"


@pytest.fixture
def toy_data(monkeypatch, toy_fashion):
    from robust_tickets import experiment

    monkeypatch.setattr(experiment, "ensure_dataset", lambda *a, **k: None)
    monkeypatch.setattr(experiment, "load_splits", lambda *a, **k: toy_fashion)


def test_calling_conventions_and_seeded_own_init(nets):
    for function in ("build", "no_args", "by_keyword"):
        name = MODELS.canonical(f"nets.py:{function}")
        assert name.startswith(f"nets.py:{function}@")
        a, b = (create_model(name, (1, 28, 28), 10, seed=7) for _ in range(2))
        c = create_model(name, (1, 28, 28), 10, seed=8)
        first, second = a.state_dict(), b.state_dict()
        assert all(torch.equal(first[k], second[k]) for k in first)
        assert not torch.equal(a[0].weight, c[0].weight)
        # the module's own init (PyTorch's default for Conv2d: bias nonzero), seeded by torch's
        # global generator from the run's seed, which is restored afterwards
        torch.manual_seed(1)
        expected = torch.rand(3)
        torch.manual_seed(1)
        reinitialise(name, a, seed=8)
        assert torch.equal(torch.rand(3), expected)
        assert torch.equal(a[0].weight, c[0].weight) and bool(a[0].bias.abs().sum() > 0)


def test_package_module_form_and_identity(nets, monkeypatch):
    monkeypatch.syspath_prepend(str(nets.parent))
    config = from_flat({"model": "nets:build"})
    assert config.model.model.startswith("nets:build@")
    assert config.name().startswith("fashion_mnist-nets.build-fgsm-nat-reset-")
    by_file = from_flat({"model": "nets.py:build"})
    assert by_file.name().startswith("fashion_mnist-nets.build-")
    assert by_file.hash() != config.hash()  # the reference is part of the identity
    assert from_flat({"model": by_file.model.model}).hash() == by_file.hash()  # stored: kept
    nets.write_text(NETS + "\n# edited\n")
    edited = from_flat({"model": "nets.py:build"})
    assert edited.hash() != by_file.hash()  # editing the source never reuses the old run
    with pytest.raises(Exception, match="has changed since this run was made"):
        create_model(by_file.model.model, (1, 28, 28), 10, seed=0)
    # the edited source is what builds the new run's network (no stale import)
    nets.write_text(
        NETS.replace("nn.Linear(32, num_classes)", "nn.Linear(32, num_classes, bias=False)")
    )
    net = create_model(from_flat({"model": "nets.py:build"}).model.model, (1, 28, 28), 10, 0)
    assert net[6].bias is None


def test_own_model_trains_prunes_and_exports(nets, toy_fashion, tmp_path):
    config = small_config(
        model="nets.py:build", train_iters=4, eval_every=2, prune_iters=1, batch_size=20
    )
    out = api.run(config, output=tmp_path / "runs", quiet=True, splits=toy_fashion)
    masks = load_tensors(out / "trial_0" / "level_01" / "masks.safetensors")
    assert list(masks) == ["0.weight", "4.weight", "6.weight"]  # batch norm is not pruned
    assert sum(float((m == 0).sum()) for m in masks.values()) > 0
    target = tmp_path / "ticket.pt"
    assert main(["export", str(out), "-o", str(target)]) == 0
    net = api.load_ticket(out)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.save({"x": x, "y": net(x)}, tmp_path / "probe.pt")
    plain = textwrap.dedent(
        """
        import sys, torch
        from nets import build
        net = build((1, 28, 28), 10)
        net.load_state_dict(torch.load("ticket.pt", weights_only=True), strict=True)
        probe = torch.load("probe.pt")
        with torch.no_grad():
            assert torch.equal(net.eval()(probe["x"]), probe["y"])
        assert not any(m.startswith("robust_tickets") for m in sys.modules)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", plain], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "model, message",
    [
        ("no_such_module_xyz:build", "cannot import no_such_module_xyz"),
        ("missing.py:build", "missing.py is not a file"),
        ("nets.py:absent", "has no function 'absent'"),
        ("nets.py:not_a_module", "returned str, not an nn.Module"),
        ("nets.py:wrong_classes", "the dataset needs (2, 10)"),
        ("nets.py:nothing_prunable", "has no prunable layer"),
        ("nets.py:raises", "raises raised ValueError: no such width"),
    ],
)
def test_what_is_wrong_with_an_own_model_is_one_line(nets, toy_data, capsys, model, message):
    out = nets.parent / "out"
    assert main(["run", "--model", model, "--train-iters", "2", "-q", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not out.exists() or files_under(out) == {}  # nothing written


def test_documented_commands_on_an_own_model(nets, tmp_path):
    """run, evaluate and export as docs/models.md shows them, on the real Fashion-MNIST."""
    from tests.conftest import _have

    if not _have("fashion_mnist"):
        pytest.skip("Fashion-MNIST not present")
    out = tmp_path / "runs"
    done = cli("run", "--model", "nets.py:build", *TINY, "-o", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (p for p in out.iterdir() if not p.name.startswith("."))
    assert run_dir.name.startswith("fashion_mnist-nets.build-")
    flags = ["--attacks", "fgsm", "--eps", "0.1", "--n-examples", "20", "--no-checks", "-q"]
    done = cli("evaluate", run_dir, *flags, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = cli("export", run_dir, "-o", tmp_path / "t.safetensors", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stdout
    assert_one_line_error(cli("run", "--model", "nets.py:nope", *TINY, "-o", out), "nope")
