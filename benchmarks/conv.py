"""Conv-2 PGD adversarial training steps on CIFAR-10 shapes: the engine against a plain loop.

The plain loop is what a user would write: `F.conv2d` / `F.linear` on ``weight * mask`` in every
forward, PGD as a loop of `torch.autograd.grad` calls in eval mode, a no-grad forward for the
attack's labels (the model's predictions), then one forward of ``cat([x, x_adv])`` for the loss
and `torch.optim.Adam`. The engine is `robust_tickets.training.make_stepper` on the registered
`conv2` (masked weights stored as zeros, gradients masked, the natural half's forward computed
once). Both train the same 80%-dense ticket (one pruning level) on the same batches.

Reported: median milliseconds per training step of each (alternated repetitions, so the
machine's drift hits both alike), their ratio, and the GFLOP/s each reaches against the
machine's convolution throughput (a large batched 3x3 convolution's forward, same threads).

    .venv/bin/python benchmarks/conv.py                 # CPU, torch's default threads
    .venv/bin/python benchmarks/conv.py --threads 2 --reps 5
    .venv/bin/python benchmarks/conv.py --device cuda --steps 20
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from robust_tickets.attacks import ATTACKS
from robust_tickets.models import create_model
from robust_tickets.models.ticket import prunable
from robust_tickets.resolve import from_flat
from robust_tickets.training import make_optimizer, make_stepper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from output import unused_path  # benchmarks/output.py, next to this file

BATCH = 60
EPS, STEP = 8 / 255, 2 / 255


class PlainConv2(torch.nn.Module):
    """Conv-2 written plainly: masks as buffers, ``weight * mask`` in every forward."""

    def __init__(self, source: torch.nn.Module, masks: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        self.masks: list[torch.Tensor] = []
        params = dict(source.named_parameters())
        for name in prunable(source):
            self.weights.append(torch.nn.Parameter(params[name].detach().clone()))
            bias = params[name.removesuffix("weight") + "bias"]
            self.biases.append(torch.nn.Parameter(bias.detach().clone()))
            self.masks.append(masks[name].clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = [wi * mi for wi, mi in zip(self.weights, self.masks, strict=True)]
        b = list(self.biases)
        x = F.relu(F.conv2d(x, w[0], b[0], padding=1))
        x = F.max_pool2d(F.relu(F.conv2d(x, w[1], b[1], padding=1)), 2).flatten(1)
        x = F.relu(F.linear(x, w[2], b[2]))
        x = F.relu(F.linear(x, w[3], b[3]))
        return F.linear(x, w[4], b[4])


def plain_pgd(model, x, y, steps: int, generator) -> torch.Tensor:
    model.eval()
    lower, upper = (x - EPS).clamp(min=0), (x + EPS).clamp(max=1)
    noise = torch.rand(x.shape, generator=generator, device=x.device)
    x_adv = torch.max(torch.min(x + EPS * (2 * noise - 1), upper), lower)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.max(torch.min(x_adv.detach() + STEP * grad.sign(), upper), lower)
    model.train()
    return x_adv


def plain_step(model, opt, x, y, steps: int, generator) -> None:
    with torch.no_grad():
        labels = model(x).argmax(1)
    x_adv = plain_pgd(model, x, labels, steps, generator)
    logits = model(torch.cat([x, x_adv]))
    n = len(y)
    loss = 0.5 * F.cross_entropy(logits[:n], y, label_smoothing=0.1) + 0.5 * F.cross_entropy(
        logits[n:], y, label_smoothing=0.1
    )
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def conv2_macs_per_image() -> tuple[int, int]:
    """(multiply-adds of one forward, of the first layer alone) for Conv-2 on 32x32x3."""
    first = 32 * 32 * 64 * 3 * 9
    convs = first + 32 * 32 * 64 * 64 * 9
    fcs = 16 * 16 * 64 * 256 + 256 * 256 + 256 * 10
    return convs + fcs, first


def step_gflop(steps: int) -> float:
    """FLOPs of one step of the engine: PGD (forward + input backward per step), the natural
    and adversarial forwards, their backward (weight gradients + activation gradients above
    the first layer). The plain loop computes one more natural forward (its labels)."""
    fwd, first = conv2_macs_per_image()
    attack = steps * 2 * fwd
    train = 2 * fwd + 2 * (fwd + fwd - first)
    return 2 * BATCH * (attack + train) / 1e9


def conv_peak(device: str) -> float:
    """GFLOP/s of a large batched 3x3 convolution forward (64 -> 64 channels, 32x32)."""
    x = torch.rand(256, 64, 32, 32, device=device)
    w = torch.rand(64, 64, 3, 3, device=device)
    flops = 2 * 256 * 32 * 32 * 64 * 64 * 9
    best = 0.0
    for _ in range(5):
        F.conv2d(x, w, padding=1)
        sync(device)
        began = time.perf_counter()
        F.conv2d(x, w, padding=1)
        sync(device)
        best = max(best, flops / (time.perf_counter() - began) / 1e9)
    return best


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per rep")
    parser.add_argument("--reps", type=int, default=3, help="alternated repetitions")
    parser.add_argument("--pgd-steps", type=int, default=10)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    config = from_flat(
        {
            "dataset": "cifar10",
            "model": "conv2",
            "attack": "pgd",
            "adv_train": True,
            "steps": args.pgd_steps,
            "learning_rate": 2e-4,
            "attack_labels": "predicted",  # as the plain loop (CIFAR-10's default is `true`)
        }
    )
    engine_model = create_model("conv2", (3, 32, 32), 10, 0).to(dev)
    g = torch.Generator().manual_seed(1)
    masks = {
        name: (torch.rand(p.shape, generator=g) < 0.8).float().to(dev)
        for name, p in prunable(engine_model).items()
    }
    plain = PlainConv2(engine_model, masks).to(dev)
    stepper = make_stepper(
        engine_model, masks, make_optimizer(engine_model, config), config, ATTACKS.cls("pgd")
    )
    plain_opt = torch.optim.Adam(plain.parameters(), lr=2e-4)
    data = torch.Generator(device=dev).manual_seed(0)
    x = torch.rand(BATCH, 3, 32, 32, generator=data, device=dev)
    y = torch.randint(0, 10, (BATCH,), generator=data, device=dev)
    gen_engine = torch.Generator(device=dev).manual_seed(2)
    gen_plain = torch.Generator(device=dev).manual_seed(2)

    def engine_run():
        stepper.step(x, y, gen_engine)

    def plain_run():
        plain_step(plain, plain_opt, x, y, args.pgd_steps, gen_plain)

    times: dict[str, list[float]] = {"engine": [], "plain": []}
    for run in (engine_run, plain_run):  # warm-up: allocator, kernels, Adam state
        run()
    sync(dev)
    for _ in range(args.reps):
        for name, run in (("engine", engine_run), ("plain", plain_run)):
            began = time.perf_counter()
            for _ in range(args.steps):
                run()
            sync(dev)
            times[name].append((time.perf_counter() - began) / args.steps * 1000)
    peak = conv_peak(dev)
    engine_ms, plain_ms = statistics.median(times["engine"]), statistics.median(times["plain"])
    gflop = step_gflop(args.pgd_steps)
    plain_gflop = gflop + 2 * BATCH * conv2_macs_per_image()[0] / 1e9
    result = {
        "device": dev,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "host": platform.node(),
        "pgd_steps": args.pgd_steps,
        "ms_per_step": times,
        "engine_ms": engine_ms,
        "plain_ms": plain_ms,
        "ratio": engine_ms / plain_ms,
        "pair_ratios": [e / p for e, p in zip(times["engine"], times["plain"], strict=True)],
        "engine_gflops": gflop / engine_ms * 1000,
        "plain_gflops": plain_gflop / plain_ms * 1000,
        "conv_peak_gflops": peak,
    }
    print("| | ms per step | GFLOP/s | % of conv peak |")
    print("|---|---|---|---|")
    for who, ms, fl in (("engine", engine_ms, gflop), ("plain loop", plain_ms, plain_gflop)):
        rate = fl / ms * 1000
        print(f"| {who} | {ms:.0f} | {rate:.1f} | {100 * rate / peak:.0f}% |")
    pairs = ", ".join(f"{r:.2f}" for r in result["pair_ratios"])
    print(f"engine / plain = {result['ratio']:.2f} (pairs {pairs}); conv peak {peak:.1f} GFLOP/s")
    path = unused_path(
        f"{time.strftime('%Y-%m-%d')}-{platform.node()}-conv2-{dev.replace(':', '')}"
    )
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"raw numbers: {path}")


if __name__ == "__main__":
    main()
