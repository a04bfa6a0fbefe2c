"""Conv-2 accuracy: a `robust-tickets run` against an independent plain PyTorch implementation.

Same configuration as level 0 of the `cifar-quick` preset (Conv-2 on CIFAR-10, PGD-3 adversarial
training at eps 8/255 with step 0.025 and a random start on the true labels, loss = half natural
+ half adversarial cross-entropy with label smoothing 0.1, Adam 1e-3, batch 60, 130 iterations,
the first 250 training images held out), evaluated on the first 500 test images: natural accuracy
and accuracy under the same PGD-3. The engine side is the CLI (`run --preset cifar-quick
--prune-iters 0 --trials N`); the plain side is written here from the description above only
(its own `nn.Sequential`, Glorot init, batch sampling and PGD), with its own seeds. The two differ
only by randomness, so their means over seeds should agree within the seeds' spread.

    .venv/bin/python benchmarks/conv_accuracy.py --seeds 3 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.data.load import load_splits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import half_adversarial_step  # benchmarks/baseline.py: the plain MLP loop's step
from output import unused_path  # benchmarks/output.py, next to this file

EPS, STEP, PGD_STEPS = 8 / 255, 0.025, 3
LR, BATCH, ITERS, VALID, TEST = 1e-3, 60, 130, 250, 500


def plain_conv2() -> nn.Sequential:
    net = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * 16 * 16, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, 10),
    )  # fmt: skip
    for layer in net:
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
    return net


def pgd(net: nn.Module, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    lo, hi = (x - EPS).clamp(min=0), (x + EPS).clamp(max=1)
    x_adv = (x + EPS * (2 * torch.rand(x.shape, generator=gen) - 1)).clamp(lo, hi)
    for _ in range(PGD_STEPS):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(net(x_adv), y), x_adv)
        x_adv = (x_adv.detach() + STEP * grad.sign()).clamp(lo, hi)
    return x_adv.detach()


def plain_run(seed: int, train_x, train_y, test_x, test_y) -> dict[str, float]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1000)
    net = plain_conv2()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    for _ in range(ITERS):
        idx = torch.randint(0, len(train_y), (BATCH,), generator=gen)
        x, y = train_x[idx], train_y[idx]
        half_adversarial_step(net, opt, x, pgd(net, x, y, gen), y)
    natural = adversarial = 0
    for start in range(0, len(test_y), 250):
        x, y = test_x[start : start + 250], test_y[start : start + 250]
        with torch.no_grad():
            natural += int((net(x).argmax(1) == y).sum())
        x_adv = pgd(net, x, y, gen)
        with torch.no_grad():
            adversarial += int((net(x_adv).argmax(1) == y).sum())
    return {"acc": natural / len(test_y), "adv_acc": adversarial / len(test_y)}


def engine_runs(trials: int, threads: int) -> tuple[list[dict[str, float]], str]:
    with tempfile.TemporaryDirectory() as scratch:
        out, csv_path = Path(scratch) / "results", Path(scratch) / "metrics.csv"
        cli = [sys.executable, "-m", "robust_tickets"]
        command = [*cli, "run", "--preset", "cifar-quick", "--prune-iters", "0", "--jobs", "1",
                   "--trials", str(trials), "--threads", str(threads), "--output", str(out),
                   "--quiet"]  # fmt: skip
        subprocess.run(command, check=True)
        subprocess.run([*cli, "results", str(out), "--csv", str(csv_path)], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        rows = [r for r in csv.DictReader(csv_path.open()) if r["split"] == "test"]
    final = {}
    for r in rows:  # the last evaluated iteration of each trial
        if int(r["iteration"]) == ITERS:
            final[int(r["trial"])] = {"acc": float(r["acc"]), "adv_acc": float(r["adv_acc"])}
    return [final[t] for t in sorted(final)], " ".join(command[1:])


def _summary(runs: list[dict[str, float]], key: str) -> str:
    values = [100 * r[key] for r in runs]
    spread = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.1f}{spread}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="trials / seeds per side")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None, help="where to write the numbers")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    splits = load_splits("cifar10", valid_size=VALID)
    test_x, test_y = splits.test.x[:TEST], splits.test.y[:TEST]
    started = time.perf_counter()
    engine, command = engine_runs(args.seeds, args.threads)
    engine_s = time.perf_counter() - started
    started = time.perf_counter()
    plain = []
    for seed in range(args.seeds):
        plain.append(plain_run(seed, splits.train.x, splits.train.y, test_x, test_y))
        print(f"plain seed {seed}: {plain[-1]}", flush=True)
    plain_s = time.perf_counter() - started
    print("| side | runs | natural (%) | PGD-3 (%) | seconds |\n|---|---|---|---|---|")
    for name, runs, seconds in (("robust-tickets run", engine, engine_s),
                                ("plain PyTorch", plain, plain_s)):  # fmt: skip
        print(f"| {name} | {len(runs)} | {_summary(runs, 'acc')} | {_summary(runs, 'adv_acc')} "
              f"| {seconds:.0f} |")  # fmt: skip
    record = {
        "benchmark": "conv_accuracy", "machine": platform.node(), "torch": torch.__version__,
        "threads": args.threads, "engine_command": command, "engine": engine, "plain": plain,
        "engine_seconds": engine_s, "plain_seconds": plain_s,
    }  # fmt: skip
    path = args.json or unused_path(
        time.strftime("%Y-%m-%d-") + platform.node() + "-conv-accuracy",
        Path(__file__).resolve().parent / "results",
    )
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
