"""Training-phase throughput: achieved GFLOP/s of each implementation against the matmul peak.

FLOPs are counted analytically from the matrix products each implementation executes (masks
count as dense): per sample, a forward pass costs P = sum(in * out) multiply-adds, a backward
pass to the input another P, and a training backward P for the weight gradients plus
P - in_0 * out_0 for the activation gradients above the first layer. One multiply-add = 2 FLOPs.
The peak is what `torch.mm` reaches on the training step's shapes and on large square matrices,
measured here with the same thread count.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

SIZES = (784, 300, 100, 10)
P = sum(a * b for a, b in itertools.pairwise(SIZES))
FIRST = SIZES[0] * SIZES[1]
BATCH = 60
PGD_STEPS = 10


def step_flops(attack: str, who: str, n: int = BATCH) -> float:
    fwd = bwd_input = n * P
    train_bwd = 2 * n * P + 2 * n * (P - FIRST)  # natural + adversarial halves
    attack_passes = 1 if attack == "fgsm" else PGD_STEPS
    macs = attack_passes * (fwd + bwd_input) + 2 * fwd + train_bwd
    if who == "engine" and attack == "fgsm":
        macs -= fwd  # the natural forward doubles as the attack's forward
    return 2.0 * macs


def matmul_peak(shapes=((60, 784, 300), (120, 784, 300), (10_000, 784, 300), (2048,) * 3)):
    out = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        reps = max(3, int(3e9 / (2 * m * k * n)))
        best = []
        for _ in range(5):
            torch.mm(a, b)
            began = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b)
            best.append(2 * m * k * n * reps / (time.perf_counter() - began) / 1e9)
        out[f"{m}x{k}x{n}"] = max(best)
    return out


def _steps(attack: str):
    """(engine step, baseline step) closures on real Fashion-MNIST batches."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import baseline as B
    from robust_tickets.attacks import ATTACKS
    from robust_tickets.data import load_splits
    from robust_tickets.models import create_model
    from robust_tickets.models.ticket import full_masks
    from robust_tickets.resolve import from_flat
    from robust_tickets.training import make_optimizer, make_stepper

    train = load_splits("fashion_mnist").train
    g = torch.Generator().manual_seed(0)
    config = from_flat({"adv_train": True, "attack": attack})
    model = create_model("dense-300-100", (1, 28, 28), 10, 0)
    optimizer, fn = make_optimizer(model, config), ATTACKS.cls(attack)
    stepper = make_stepper(model, full_masks(model), optimizer, config, fn)  # what `run` uses
    base = B.MaskedMLP()
    base_opt = torch.optim.Adam(base.parameters(), lr=1.2e-3)
    base_attack = B.make_attack(attack)

    def batch():
        index = torch.randint(0, len(train), (BATCH,), generator=g)
        return train.x[index], train.y[index]

    def engine():
        x, y = batch()
        stepper.step(x, y, g)

    def baseline():
        x, y = batch()
        x_adv = B.adversarial(base, base_attack, x, y)
        loss = 0.5 * F.cross_entropy(base(x), y, label_smoothing=0.1) + 0.5 * F.cross_entropy(
            base(x_adv), y, label_smoothing=0.1
        )
        base_opt.zero_grad()
        loss.backward()
        base_opt.step()
        with torch.no_grad():
            for layer, mask in zip(base.layers, base.masks(), strict=True):
                layer.weight.mul_(mask)

    return engine, baseline


def measure(threads: int | None = None, rounds: int = 5, seconds: float = 2.0) -> dict:
    if threads:
        torch.set_num_threads(threads)
    result = {"threads": torch.get_num_threads(), "peak_gflops": matmul_peak(), "training": {}}
    for attack in ("fgsm", "pgd"):
        steps = dict(zip(("engine", "baseline"), _steps(attack), strict=True))
        per_step = {who: [] for who in steps}
        for fn in steps.values():
            for _ in range(3):
                fn()
        for _ in range(rounds):  # alternate, keep the median
            for who, fn in steps.items():
                n, began = 0, time.perf_counter()
                while time.perf_counter() - began < seconds / rounds:
                    fn()
                    n += 1
                per_step[who].append((time.perf_counter() - began) / n)
        for who, times in per_step.items():
            t = statistics.median(times)
            result["training"][f"{attack}/{who}"] = {
                "ms_per_step": 1e3 * t,
                "gflop_per_step": step_flops(attack, who) / 1e9,
                "gflops": step_flops(attack, who) / t / 1e9,
            }
    return result


def markdown(r: dict) -> str:
    peak = r["peak_gflops"]
    train_peak = peak[f"{BATCH}x784x300"]
    big_peak = max(peak.values())
    lines = [
        f"Training-phase throughput ({r['threads']} thread(s)); torch.mm peak: "
        + ", ".join(f"{k}: {v:.1f}" for k, v in peak.items())
        + " GFLOP/s",
        "",
        "| training step | ms/step | GFLOP/step | GFLOP/s | % of mm peak (60x784x300 / best) |",
        "|---|---|---|---|---|",
    ]
    for key, t in r["training"].items():
        lines.append(
            f"| {key} | {t['ms_per_step']:.2f} | {t['gflop_per_step']:.3f} | {t['gflops']:.1f} "
            f"| {100 * t['gflops'] / train_peak:.0f}% / {100 * t['gflops'] / big_peak:.0f}% |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(measure(int(sys.argv[1]) if len(sys.argv) > 1 else None)))
