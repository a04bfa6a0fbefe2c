"""Training several tickets at once (MultiStepper) against one at a time (FastStepper).

    .venv/bin/python benchmarks/multi_ticket.py                      # CPU, torch's threads
    .venv/bin/python benchmarks/multi_ticket.py --device cuda --tickets 1 5 15 45

For each attack and each number of tickets T, the same T pruned LeNet-300-100 tickets (batch 60,
the paper's PGD-10 / FGSM settings) take training steps either one ticket after another, as
`robust-tickets run` does within a process, or all T in one batched step. The two are timed in
alternated windows (the machine may be shared) and compared as medians: milliseconds per step
of all T tickets, tickets x steps per second, and batched / one-at-a-time. A Markdown table goes
to stdout; raw numbers to benchmarks/results/<date>-<host>-multi-ticket[-N].json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from robust_tickets.attacks import ATTACKS
from robust_tickets.models import create_model
from robust_tickets.models.ticket import prunable
from robust_tickets.resolve import from_flat
from robust_tickets.training.fast_step import FastStepper
from robust_tickets.training.multi_step import MultiStepper
from robust_tickets.training.step import make_optimizer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from output import unused_path  # noqa: E402  (benchmarks/output.py, next to this file)


def make_tickets(count: int, device: str) -> tuple[list[torch.nn.Module], list[dict]]:
    models, masks = [], []
    for t in range(count):
        model = create_model("dense-300-100", (1, 28, 28), 10, t).to(device)
        g = torch.Generator().manual_seed(1000 + t)
        mask = {}
        with torch.no_grad():  # 80% of each layer kept: one pruning level, as in W1 and W2
            for name, weight in prunable(model).items():
                mask[name] = (torch.rand(weight.shape, generator=g) < 0.8).float().to(device)
                weight.mul_(mask[name])
        models.append(model)
        masks.append(mask)
    return models, masks


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(attack: str, tickets: int, args) -> dict:
    config = from_flat({"adv_train": True, "attack": attack})
    attack_fn = ATTACKS.cls(attack)
    dev = args.device
    (alone_models, masks), (batched_models, _) = (
        make_tickets(tickets, dev),
        make_tickets(tickets, dev),
    )
    alone = [
        FastStepper(m, k, make_optimizer(m, config), config, attack_fn)
        for m, k in zip(alone_models, masks, strict=True)
    ]
    batched_opts = [make_optimizer(m, config) for m in batched_models]
    multi = MultiStepper(batched_models, masks, batched_opts, config, attack_fn)
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.rand(tickets, 60, 1, 28, 28, generator=g, device=dev)
    y = torch.randint(0, 10, (tickets, 60), generator=g, device=dev)
    gens = [torch.Generator(device=dev).manual_seed(t) for t in range(tickets)]

    def one_at_a_time(steps: int) -> None:
        for _ in range(steps):
            for t, stepper in enumerate(alone):
                stepper.step(x[t], y[t], gens[t])

    def batched(steps: int) -> None:
        for _ in range(steps):
            multi.step(x, y, gens)

    times: dict[str, list[float]] = {"alone": [], "batched": []}
    for fn in (one_at_a_time, batched):  # warm-up (allocator, BLAS, CUDA kernels)
        fn(3)
    for _ in range(args.windows):
        for name, fn in (("alone", one_at_a_time), ("batched", batched)):
            sync(dev)
            began = time.perf_counter()
            fn(args.steps)
            sync(dev)
            times[name].append((time.perf_counter() - began) / args.steps * 1e3)
    alone_ms, batched_ms = statistics.median(times["alone"]), statistics.median(times["batched"])
    return {
        "attack": attack,
        "tickets": tickets,
        "alone_ms_per_step": alone_ms,
        "batched_ms_per_step": batched_ms,
        "alone_ticket_steps_per_s": tickets / alone_ms * 1e3,
        "batched_ticket_steps_per_s": tickets / batched_ms * 1e3,
        "ratio": batched_ms / alone_ms,
        "windows": times,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tickets", type=int, nargs="+", default=[1, 3, 5, 15])
    parser.add_argument("--attacks", nargs="+", default=["fgsm", "pgd"], choices=["fgsm", "pgd"])
    parser.add_argument("--steps", type=int, default=20, help="steps per timed window")
    parser.add_argument("--windows", type=int, default=5, help="alternated windows per mode")
    parser.add_argument("--threads", type=int, default=None, help="default: torch's own")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False  # the same float32 maths as on CPU
    device_name = (
        torch.cuda.get_device_name(args.device)
        if args.device.startswith("cuda")
        else f"{platform.machine()}, {torch.get_num_threads()} threads"
    )
    rows = []
    for attack in args.attacks:
        for tickets in args.tickets:
            rows.append(measure(attack, tickets, args))
            r = rows[-1]
            print(f"  {attack} T={tickets}: ratio {r['ratio']:.2f}", file=sys.stderr)
    meta = {
        "date": datetime.date.today().isoformat(),
        "device": device_name,
        "torch": torch.__version__,
        "steps_per_window": args.steps,
        "windows": args.windows,
    }
    path = args.json or unused_path(f"{meta['date']}-{platform.node()}-multi-ticket")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(
        f"Device: {device_name}; torch {meta['torch']}; {meta['date']}; medians of "
        f"{args.windows} alternated windows of {args.steps} steps.\n"
    )
    print(
        "| attack | tickets | one at a time (ms/step of all) | batched (ms/step) | "
        "batched / one at a time | ticket-steps/s one at a time / batched |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['attack']} | {r['tickets']} | {r['alone_ms_per_step']:.2f} | "
            f"{r['batched_ms_per_step']:.2f} | {r['ratio']:.2f} | "
            f"{r['alone_ticket_steps_per_s']:.0f} / {r['batched_ticket_steps_per_s']:.0f} |"
        )
    print(f"\nraw numbers: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
