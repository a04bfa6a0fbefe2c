"""The benchmark workloads written as a user would write them in plain PyTorch.

This is the reference `robust-tickets run` is timed against: the paper's experiment (LeNet-300-100
without biases, Glorot init, Adam 1.2e-3, batch 60, label smoothing 0.1, loss 0.5 * CE(natural)
+ 0.5 * CE(adversarial), per-layer magnitude pruning of 20% / 10% of the surviving weights, reset
to the original init) with ordinary idioms: `nn.Linear` layers with mask buffers, the default
`torch.optim.Adam`, FGSM/PGD as short autograd functions, trials one after another, evaluation in
batches of 1,000 at iteration 0 and every `eval_every` iterations on the full validation and test
sets. Only the dataset loading is borrowed from robust_tickets (the same files and split).

    python benchmarks/baseline.py --attack fgsm --trials 3 --levels 2 --iters 2000 --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.data import Split, Splits, load_splits


class MaskedMLP(nn.Module):
    def __init__(self, sizes: tuple[int, ...] = (784, 300, 100, 10)) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(sizes)
        )
        for i, layer in enumerate(self.layers):
            nn.init.xavier_uniform_(layer.weight)
            self.register_buffer(f"mask{i}", torch.ones_like(layer.weight))

    def masks(self) -> list[torch.Tensor]:
        return [getattr(self, f"mask{i}") for i in range(len(self.layers))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for i, (layer, mask) in enumerate(zip(self.layers, self.masks(), strict=True)):
            x = F.linear(x, layer.weight * mask)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int
) -> torch.Tensor:
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv


def predicted(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The labels the paper's attacks use: CleverHans' generate(x) gets no y, so it attacks
    the model's own predictions (as `robust-tickets run` does by default)."""
    with torch.no_grad():
        return model(x).argmax(1)


def make_attack(name: str):
    if name == "fgsm":
        return lambda model, x, y: fgsm(model, x, predicted(model, x), eps=0.3)
    return lambda model, x, y: pgd(model, x, predicted(model, x), eps=0.3, alpha=0.05, steps=10)


def adversarial(model: nn.Module, attack, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    model.eval()
    x_adv = attack(model, x, y)
    model.train()
    return x_adv


def half_adversarial_step(model: nn.Module, optimizer, x, x_adv, y) -> None:
    """One optimiser step on 0.5 * CE(natural) + 0.5 * CE(adversarial), label smoothing 0.1."""
    loss = 0.5 * F.cross_entropy(model(x), y, label_smoothing=0.1) + 0.5 * F.cross_entropy(
        model(x_adv), y, label_smoothing=0.1
    )
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def evaluate(model, attack, x_all, y_all, smoothing: float, batch_size: int = 1000) -> dict:
    totals = {"loss": 0.0, "acc": 0.0, "adv_loss": 0.0, "adv_acc": 0.0}
    model.eval()
    for start in range(0, len(y_all), batch_size):
        x, y = x_all[start : start + batch_size], y_all[start : start + batch_size]
        x_adv = attack(model, x, y)
        with torch.no_grad():
            for prefix, inputs in (("", x), ("adv_", x_adv)):
                logits = model(inputs)
                loss = F.cross_entropy(logits, y, label_smoothing=smoothing, reduction="sum")
                totals[prefix + "loss"] += loss.item()
                totals[prefix + "acc"] += (logits.argmax(1) == y).sum().item()
    model.train()
    return {k: v / len(y_all) for k, v in totals.items()}


@torch.no_grad()
def prune(model: MaskedMLP, rates: list[float]) -> None:
    """Remove the `rate` fraction of surviving weights of smallest magnitude, layer by layer."""
    for layer, mask, rate in zip(model.layers, model.masks(), rates, strict=True):
        alive = layer.weight[mask.bool()].abs()
        k = round(rate * alive.numel())
        if k > 0:
            threshold = alive.kthvalue(k).values
            mask.mul_((layer.weight.abs() > threshold).float())


def run_trial(splits, args, trial: int) -> list[dict]:
    torch.manual_seed(trial)
    model = MaskedMLP().to(args.device)
    init = {k: v.clone() for k, v in model.state_dict().items() if k.endswith("weight")}
    attack = make_attack(args.attack)
    train_x, train_y = splits.train.x, splits.train.y
    per_epoch = len(train_y) // args.batch_size
    history = []
    for level in range(args.levels):
        if level > 0:
            prune(model, [0.2, 0.2, 0.1])
            with torch.no_grad():
                for i, layer in enumerate(model.layers):
                    layer.weight.copy_(init[f"layers.{i}.weight"] * model.masks()[i])
        optimizer = torch.optim.Adam(model.parameters(), lr=1.2e-3)
        model.train()
        for it in range(args.iters + 1):
            if it % args.eval_every == 0 or it == args.iters:
                row = {"level": level, "iteration": it}
                for name, split, smoothing in (
                    ("valid", splits.valid, 0.1),
                    ("test", splits.test, 0.0),
                ):
                    metrics = evaluate(model, attack, split.x, split.y, smoothing)
                    row.update({f"{name}_{k}": v for k, v in metrics.items()})
                history.append(row)
            if it == args.iters:
                break
            if it % per_epoch == 0:
                perm = torch.randperm(len(train_y), device=train_y.device)
            index = perm[
                (it % per_epoch) * args.batch_size : (it % per_epoch + 1) * args.batch_size
            ]
            x, y = train_x[index], train_y[index]
            half_adversarial_step(model, optimizer, x, adversarial(model, attack, x, y), y)
            with torch.no_grad():  # keep pruned weights exactly zero
                for layer, mask in zip(model.layers, model.masks(), strict=True):
                    layer.weight.mul_(mask)
    return history


def on_device(splits: Splits, device: str) -> Splits:
    """The whole dataset moved to `device` once, as a user with a GPU would."""
    move = lambda s: Split(s.x.to(device), s.y.to(device))  # noqa: E731
    return Splits(move(splits.train), move(splits.valid), move(splits.test), splits.num_classes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attack", choices=("fgsm", "pgd"), default="fgsm")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--levels", type=int, default=2)
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None, help="default: torch's own choice")
    parser.add_argument("--json", default=None, help="write final-level accuracies here")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    began = time.perf_counter()
    splits = on_device(load_splits("fashion_mnist"), args.device)
    final = []
    for trial in range(args.trials):
        history = run_trial(splits, args, trial)
        last = history[-1]
        final.append(
            {"trial": trial, "test_acc": last["test_acc"], "test_adv_acc": last["test_adv_acc"]}
        )
        print(json.dumps(final[-1]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"final": final, "seconds": time.perf_counter() - began}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
