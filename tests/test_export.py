"""`robust-tickets export` and the Python API: a ticket leaves as a plain state dict that loads,
strictly, into the unpruned architecture written in plain PyTorch without robust_tickets, with
the same zeros and the same outputs; docs/api.md's example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from tests.conftest import small_config

import robust_tickets
from robust_tickets import api
from robust_tickets.cli.main import main
from robust_tickets.models.ticket import prunable_names
from robust_tickets.store import load_tensors

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"
TINY = {"train_iters": 8, "eval_every": 4, "prune_iters": 2, "batch_size": 20, "adv_train": True}

# The paper's MLP in plain PyTorch, as a user would write it: no robust_tickets anywhere.
PLAIN = textwrap.dedent(
    """
    import sys
    import torch
    from torch import nn

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            sizes = [784, 300, 100, 10]
            self.layers = nn.ModuleList(
                nn.Linear(a, b, bias=False) for a, b in zip(sizes, sizes[1:])
            )

        def forward(self, x):
            x = x.flatten(1)
            for layer in self.layers[:-1]:
                x = torch.relu(layer(x))
            return self.layers[-1](x)

    path, probe = sys.argv[1], torch.load(sys.argv[2])
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        state = load_file(path)
    else:
        state = torch.load(path, weights_only=True)
    net = Plain()
    net.load_state_dict(state, strict=True)
    net.eval()
    weights = [p for p in net.parameters()]
    zero = sum(int((p == 0).sum()) for p in weights) / sum(p.numel() for p in weights)
    assert abs(zero - probe["zero"]) < 1e-9, (zero, probe["zero"])
    with torch.no_grad():
        assert torch.equal(net(probe["x"]), probe["y"])
    assert not any(m.startswith("robust_tickets") for m in sys.modules), "imported robust_tickets"
    print("ok", zero)
    """
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, toy_fashion) -> Path:
    out = tmp_path_factory.mktemp("runs")
    config = small_config(**TINY, attack="fgsm")
    return api.run(config, output=out, quiet=True, splits=toy_fashion)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_export_loads_into_plain_pytorch_without_robust_tickets(tmp_path, trained, suffix, capsys):
    target = tmp_path / f"ticket{suffix}"
    assert main(["export", str(trained), "-o", str(target)]) == 0
    printed = capsys.readouterr().out
    last = sorted((trained / "trial_0").glob("level_*"))[-1]  # export's default level
    masks = load_tensors(last / "masks.safetensors")
    kept, total = (
        sum(float(m.sum()) for m in masks.values()),
        sum(m.numel() for m in masks.values()),
    )
    removed = 1 - kept / total
    assert f"sparsity {100 * removed:.2f}%" in printed
    for name in masks:  # per layer
        assert re.search(rf"{re.escape(name)}\s+\d+\.\d\d% removed", printed), name

    net = api.load_ticket(trained)  # the last level, masks applied, eval mode
    assert not net.training and type(net).__module__.startswith("robust_tickets.models")
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = net(x)
    weights = list(net.parameters())
    zero = sum(int((p == 0).sum()) for p in weights) / sum(p.numel() for p in weights)
    assert abs(zero - removed) < 0.01  # what the masks removed (and no surviving weight is 0)
    torch.save({"x": x, "y": y, "zero": zero}, tmp_path / "probe.pt")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = tmp_path / "plain.py"
    script.write_text(PLAIN)
    done = subprocess.run(
        [sys.executable, str(script), str(target), str(tmp_path / "probe.pt")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def test_export_of_a_level_directory_and_an_earlier_level(tmp_path, trained):
    level0 = trained / "trial_0" / "level_00"
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    assert main(["export", str(level0), "-o", str(a)]) == 0
    assert main(["export", str(trained), "--level", "0", "-o", str(b)]) == 0
    first, second = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert api.export_ticket(level0, tmp_path / "c.pt")["overall"] == 0.0  # the dense level


@pytest.mark.parametrize(
    "args, message",
    [
        (["{run}/nowhere", "-o", "{tmp}/x.pt"], "does not exist"),
        (["{run}", "--level", "7", "-o", "{tmp}/x.pt"], "is not finished"),
        (["{run}", "--trial", "3", "-o", "{tmp}/x.pt"], "has no finished level"),
        (["{run}", "-o", "{tmp}/x.npz"], "write a .pt or .safetensors file"),
        (["{run}/trial_0", "-o", "{tmp}/x.pt"], "neither a run directory"),
        (["{run}/trial_0/level_01", "--level", "0", "-o", "{tmp}/x.pt"], "drop --trial/--level"),
    ],
)
def test_export_refuses_bad_input_in_one_line(tmp_path, trained, capsys, args, message):
    argv = [a.format(run=trained, tmp=tmp_path) for a in args]
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not list(tmp_path.glob("x.*"))


def test_ticket_from_module():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 26 * 26, 10),
    )
    ticket = robust_tickets.ticket_from_module(net)
    assert list(ticket.masks) == prunable_names(net) == ["0.weight", "3.weight"]
    assert ticket.kinds == {"0.weight": "conv", "3.weight": "output"}
    assert ticket.sparsity() == {"overall": 0.0, "0.weight": 0.0, "3.weight": 0.0}
    ticket.masks["3.weight"][:5] = 0
    assert ticket.apply() is net and bool((net[3].weight[:5] == 0).all())
    assert ticket.sparsity()["3.weight"] == 0.5
    with pytest.raises(robust_tickets.errors.UserError, match="no prunable layer"):
        api.ticket_from_module(torch.nn.ReLU())


def test_import_stays_light():
    code = "import sys, robust_tickets; assert 'torch' not in sys.modules; robust_tickets.run"
    src = str(Path(__file__).resolve().parents[1] / "src")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": src})


def test_docs_api_example_runs_as_written(tmp_path, monkeypatch, toy_fashion):
    """docs/api.md's code, as written, on the toy Fashion-MNIST-shaped data."""
    from robust_tickets import experiment

    monkeypatch.setattr(experiment, "ensure_dataset", lambda *a, **k: None)
    monkeypatch.setattr(experiment, "load_splits", lambda *a, **k: toy_fashion)
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"^```python\n(.*?)^```", DOCS.read_text(encoding="utf-8"), re.M | re.S)
    assert blocks
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(DOCS), "exec"), namespace)
    assert (tmp_path / "ticket.safetensors").is_file()
    assert namespace["out"].name.startswith("fashion_mnist-dense-300-100-fgsm-adv-reset-")
