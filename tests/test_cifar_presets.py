"""The CIFAR ResNet presets of issue 24 (`cifar-resnet`, `cifar-cpu` and its grid) and the dry
run's estimate for a GPU: timed on one where there is one, computed from FLOPs (and said so)
where there is none."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.conftest import _have

from robust_tickets.cli.main import main
from robust_tickets.config import PRESET_RUN_OPTIONS, PRESETS
from robust_tickets.engine.trial import pruning_rates
from robust_tickets.models.registry import create_model
from robust_tickets.models.ticket import prunable
from robust_tickets.pruning.allocation import keep_counts
from robust_tickets.resolve import from_flat
from robust_tickets.store import load_tensors
from robust_tickets.sweep import load_grid
from robust_tickets.sweep.estimate import forward_flops

ROOT = Path(__file__).resolve().parents[1]


def test_cifar_resnet_reaches_the_adversarial_pruning_benchmarks_sparsities():
    """Global allocation at r = 1 - 10^-0.1: schedule levels 10, 13, 20 leave 10, 5 and 1% of
    the real PreAct ResNet-18's prunable weights (the benchmark's 90 / 95 / 99% sparsity)."""
    config = from_flat(PRESETS["cifar-resnet"])
    assert config.prune.schedule_levels == (10, 13, 20)
    model = create_model(config.model.model, (3, 32, 32), 10, seed=0)
    sizes = {name: p.numel() for name, p in prunable(model).items()}
    rates = pruning_rates(config, model)
    total = sum(sizes.values())
    for level, left in zip(config.prune.schedule_levels, (10.0, 5.0, 1.0), strict=True):
        kept = sum(keep_counts(sizes, rates, level).values())
        assert abs(100 * kept / total - left) < 0.05, (level, 100 * kept / total)


def test_cifar_resnet_is_the_protocol_it_says():
    c = from_flat(PRESETS["cifar-resnet"])
    assert (c.model.model, c.train.objective.name, c.attack.attack.name) == (
        "preact-resnet18",
        "madry",
        "pgd",
    )
    assert c.attack.params.steps == 10 and c.attack.eps == pytest.approx(8 / 255)
    assert c.attack.params.step_size == pytest.approx(2 / 255)
    assert (c.prune.strategy.name, c.prune.allocation.name) == ("rewind", "global")
    # rewound after 2 of the level's 100 epochs of 383 steps
    assert c.train.train_iters == 38_282 and c.prune.strategy.params.iter == 2 * 383
    assert c.data.test_size == 0 and PRESET_RUN_OPTIONS["cifar-resnet"]["trials"] == 1


def test_cifar_cpu_grid_is_the_ticket_beside_its_random_control():
    jobs = load_grid(ROOT / "configs" / "cifar-cpu.yaml")
    assert len(jobs) == 2 * 3  # 3 trials, from the preset
    by_criterion = {j.config.prune.criterion.name for j in jobs}
    assert by_criterion == {"magnitude", "random"}
    for job in jobs:  # everything but the criterion is the preset's
        flat = job.config.flat()
        assert {k: v for k, v in flat.items() if k != "criterion"} == {
            k: v for k, v in from_flat(PRESETS["cifar-cpu"]).flat().items() if k != "criterion"
        }
        assert job.levels == 2 and job.config.prune.schedule_levels == (7,)  # 20.0% left


def test_the_cifar_resnet_grid_is_the_preset():
    (job,) = load_grid(ROOT / "configs" / "cifar-resnet.yaml")
    assert job.config == from_flat(PRESETS["cifar-resnet"])


def test_forward_flops_counts_convolutions_and_linear_layers():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),  # 32x32 out: 8 * 1024 outputs of 27 products
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 10),
    )
    assert forward_flops(model, (3, 32, 32)) == 2 * (8 * 32 * 32 * 27 + 8 * 10)
    # PreAct ResNet-18 is the usual 0.56 G multiply-adds
    resnet = create_model("preact-resnet18", (3, 32, 32), 10, seed=0)
    assert 1.10e9 < forward_flops(resnet, (3, 32, 32)) < 1.13e9


def _dry_run(grid: Path, out: Path, capsys) -> list[str]:
    code = main(["sweep", str(grid), "--dry-run", "--device", "cuda", "-o", str(out)])
    assert code == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the estimate is timed")
def test_dry_run_for_a_gpu_without_one_says_its_estimate_is_computed(tmp_path, capsys):
    out = _dry_run(ROOT / "configs" / "cifar-resnet.yaml", tmp_path, capsys)
    (summary,) = [line for line in out if line.startswith("estimated ")]
    assert "NOT timed" in summary and "no CUDA GPU here" in summary
    assert "preact-resnet18 1.11 GFLOP" in summary and "50 TFLOP/s" in summary
    assert "jobs at once" not in summary  # jobs would share one GPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_dry_run_on_a_gpu_times_the_steps_there(tmp_path, capsys):
    grid = tmp_path / "grid.yaml"  # the preset at a narrower width: a quick timing
    grid.write_text("base: {preset: cifar-resnet, model: preact-resnet18+channels=16}\n")
    out = _dry_run(grid, tmp_path / "out", capsys)
    (summary,) = [line for line in out if line.startswith("estimated ")]
    assert "timed on this machine's GPU" in summary and "NOT timed" not in summary


@pytest.mark.slow
@pytest.mark.skipif(not _have("cifar10"), reason="CIFAR-10 not present")
def test_cifar_cpu_runs_end_to_end_through_the_cli(tmp_path, capsys):
    """Both jobs of configs/cifar-cpu.yaml and the strong evaluation, carried down to a few
    steps and images (the preset's model, attack, objective, schedule and pruning)."""
    tiny = ["--train-epochs", "0", "--train-iters", "4", "--eval-every", "4", "--rewind-iter"]
    tiny += ["2", "--batch-size", "16", "--valid-size", "20", "--test-size", "20"]
    tiny += ["--trials", "1", "--threads", "1", "-q", "-o", str(tmp_path)]
    for criterion in ("magnitude", "random"):
        assert main(["run", "--preset", "cifar-cpu", "--criterion", criterion, *tiny]) == 0
    runs = sorted(tmp_path.glob("cifar10-resnet20-nfgsm-adv-rewind-*"))
    assert len(runs) == 2 and "criterion_random" in runs[0].name + runs[1].name
    for run in runs:
        masks = run / "trial_0" / "level_01" / "masks.safetensors"
        kept = sum(int(m.sum()) for m in load_tensors(masks).values())
        total = sum(m.numel() for m in load_tensors(masks).values())
        assert abs(kept / total - 0.1995) < 0.001  # schedule level 7: 20.0% left
    capsys.readouterr()
    args = ["evaluate", str(runs[0]), "--attacks", "apgd-ce,apgd-t", "--eps", "8/255"]
    args += ["--n-examples", "4", "--apgd-steps", "2", "--no-checks", "--threads", "1", "-q"]
    assert main(args) == 0
    for level in ("level_00", "level_01"):  # the dense network and its ticket
        table = (runs[0] / "trial_0" / level / "robustness" / "robustness.csv").read_text()
        assert "apgd-ce" in table and "apgd-t" in table
