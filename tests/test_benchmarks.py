"""The benchmark scripts: they run, and a run never replaces an earlier run's numbers."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_benchmark_run_never_overwrites_an_earlier_results_file(tmp_path):
    output = load("output")
    first = output.unused_path("2026-01-01-host", tmp_path)
    first.write_text("{}")
    second = output.unused_path("2026-01-01-host", tmp_path)
    second.write_text("{}")
    third = output.unused_path("2026-01-01-host", tmp_path)
    assert len({first, second, third}) == 3 and not third.exists()
    assert [p.name for p in (first, second, third)] == [
        "2026-01-01-host.json",
        "2026-01-01-host-2.json",
        "2026-01-01-host-3.json",
    ]


def test_multi_ticket_benchmark_times_both_modes(tmp_path, capsys):
    bench = load("multi_ticket")
    out = tmp_path / "multi.json"
    args = ["--tickets", "2", "--attacks", "pgd", "--steps", "1", "--windows", "2"]
    assert bench.main([*args, "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["tickets"] == 2 and len(row["windows"]["alone"]) == 2
    assert row["alone_ms_per_step"] > 0 and row["batched_ms_per_step"] > 0
    assert abs(row["ratio"] - row["batched_ms_per_step"] / row["alone_ms_per_step"]) < 1e-9
    assert "| pgd | 2 |" in capsys.readouterr().out


def test_runner_summary_gives_median_ratio_and_each_pairs_ratio():
    run = load("run")

    def rep(engine_s: float, baseline_s: float) -> dict:
        def side(seconds: float) -> dict:
            final = [{"trial": 0, "test_acc": 0.8, "test_adv_acc": 0.5}]
            return {"seconds": seconds, "peak_rss_mib": 1.0, "final": final, "load_before": 1.0}

        return {"engine": side(engine_s), "baseline": side(baseline_s)}

    (summary,) = run.summarise({"W": [rep(10, 40), rep(30, 60), rep(20, 100)]}).values()
    assert summary["engine"]["median_s"] == 20 and summary["baseline"]["median_s"] == 60
    assert summary["ratio"] == 20 / 60
    assert summary["pair_ratios"] == [10 / 40, 30 / 60, 20 / 100]


def test_conv_benchmarks_plain_loop_trains_the_same_network_as_the_engine():
    # the independent plain-PyTorch Conv-2 loop of benchmarks/conv.py and the engine's stepper,
    # from the same init, masks, batches and random starts, end at the same weights: the
    # speed ratio compares the same computation, and the engine's conv path trains correctly
    import torch

    from robust_tickets.attacks import ATTACKS
    from robust_tickets.models import create_model
    from robust_tickets.models.ticket import apply_masks_, prunable
    from robust_tickets.resolve import from_flat
    from robust_tickets.training import make_optimizer, make_stepper

    conv = load("conv")
    config = from_flat(
        {"dataset": "cifar10", "model": "conv2", "attack": "pgd", "adv_train": True, "steps": 2,
         "step_size": conv.STEP, "eps": conv.EPS, "learning_rate": 2e-4,
         "attack_labels": "predicted"}
    )  # fmt: skip
    model = create_model("conv2", (3, 32, 32), 10, 0)
    g = torch.Generator().manual_seed(1)
    masks = {
        n: (torch.rand(p.shape, generator=g) < 0.8).float() for n, p in prunable(model).items()
    }
    apply_masks_(model, masks)  # as the runner does before training a level
    before = {n: p.detach().clone() for n, p in prunable(model).items()}
    plain = conv.PlainConv2(model, masks)
    stepper = make_stepper(model, masks, make_optimizer(model, config), config, ATTACKS.cls("pgd"))
    plain_opt = torch.optim.Adam(plain.parameters(), lr=2e-4)
    gen_engine, gen_plain = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    data = torch.Generator().manual_seed(3)
    for _ in range(3):
        x = torch.rand(16, 3, 32, 32, generator=data)
        y = torch.randint(0, 10, (16,), generator=data)
        stepper.step(x, y, gen_engine)
        conv.plain_step(plain, plain_opt, x, y, 2, gen_plain)
    params = dict(model.named_parameters())
    for i, name in enumerate(prunable(model)):
        w_plain = (plain.weights[i] * plain.masks[i]).detach()
        assert torch.allclose(params[name].detach(), w_plain, atol=1e-6), name
        assert not torch.equal(params[name].detach(), before[name]), f"{name} did not train"
        bias = params[name.removesuffix("weight") + "bias"].detach()
        assert torch.allclose(bias, plain.biases[i].detach(), atol=1e-6), name


def test_conv_accuracy_benchmarks_plain_network_is_conv2():
    # the independent Conv-2 of benchmarks/conv_accuracy.py has the registered conv2's layers
    # (same shapes in the same order) and the same Gaussian Glorot scale: the accuracy
    # comparison pits two implementations of one network, not two networks
    from robust_tickets.models import create_model

    bench = load("conv_accuracy")
    plain = [p for p in bench.plain_conv2().parameters()]
    engine = [p for p in create_model("conv2", (3, 32, 32), 10, 0).parameters()]
    assert [p.shape for p in plain] == [p.shape for p in engine]
    for a, b in zip(plain, engine, strict=True):
        if a.dim() > 1:  # weights: the same distribution, std within 5% (>= 1,700 values each)
            assert abs(a.std().item() / b.std().item() - 1) < 0.05
        else:
            assert not a.any() and not b.any()  # zero biases


def test_fab_benchmark_times_both_projections_and_compares_the_images(tmp_path, mnist, capsys):
    bench = load("fab")
    out = tmp_path / "fab.json"
    args = [
        "--n",
        "12",
        "--fab-steps",
        "2",
        "--windows",
        "2",
        "--calls",
        "2",
        "--projection-n",
        "30",
    ]
    args += ["--train-steps", "20"]
    assert bench.main([*args, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["workload"] for r in result["rows"]] == ["fab-t", "projection, per call"]
    for row in result["rows"]:
        assert len(row["windows"]["ours"]["wall"]) == 2 and row["library_cpu_s"] > 0
        assert abs(row["ratio_cpu"] - row["ours_cpu_s"] / row["library_cpu_s"]) < 1e-9
    assert result["meta"]["images_disagreeing"] == 0 and len(result["meta"]["projection_rows"]) == 2
    assert "| fab-t |" in capsys.readouterr().out


def test_processes_per_gpu_times_each_process_count_afresh(tmp_path, fashion):
    # On the CPU with two processes of 3 steps: one JSON line per process count, each process's
    # level timed, the aggregate its slowest level over all steps; a second run times new levels
    # (a store left by the first would be skipped by `run`, and timed as nothing) and appends.
    env = {
        **os.environ,
        "DEV": "cpu",
        "MODEL": "dense-300-100",
        "PS": "2",
        "EVAL_N": "20",
        "S": "3",
        "PY": sys.executable,
        "OUT": str(tmp_path),
        "WORK": str(tmp_path),
    }
    for _ in range(2):
        subprocess.run(
            ["bash", str(BENCHMARKS / "processes_per_gpu.sh")],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    lines = (tmp_path / "processes-per-gpu.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 2
    for row in rows:
        assert row["processes"] == 2 and row["done"] == 2
        assert all(s > 0 for s in row["level_seconds"])
        assert row["aggregate_ms_per_step"] == round(1000 * max(row["level_seconds"]) / 6, 2)
