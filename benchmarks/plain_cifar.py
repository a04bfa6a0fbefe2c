"""A plain PyTorch CIFAR-10 training loop beside the engine's level 0: the same settings, its own
code.

`plain_train` trains a network the textbook way (`torch.optim.SGD` with momentum and weight
decay, BatchNorm in train mode, label-smoothed cross-entropy, optionally Madry's PGD mixed 50/50
with the natural loss) with its own random crop and flip (one image at a time: pad, slice,
mirror) and its own batch order. It takes from the engine only what makes the two runs the same
run: the network's starting weights, and the seeds (`robust_tickets.seeds.derive`, a hash) from
which the engine draws each epoch's permutation, each step's crop offsets and flips, and PGD's
random starts. tests/test_plain_loop.py checks that both end at the same weights after a few
steps; `python benchmarks/plain_cifar.py` does the same on real CIFAR-10 and reports how far
apart they end and how long each took.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.config import ExperimentConfig
from robust_tickets.seeds import derive

PAD = 4


def crop_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero-padding by 4, random horizontal flip, image by image. The draws:
    every image's row offset, then every column offset, then every flip (the engine's order)."""
    n, _, h, w = x.shape
    dy = torch.randint(0, 2 * PAD + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * PAD + 1, (n,), generator=generator)
    flips = torch.randint(0, 2, (n,), generator=generator)
    out = torch.empty_like(x)
    for i in range(n):
        padded = F.pad(x[i], (PAD, PAD, PAD, PAD))
        crop = padded[:, int(dy[i]) : int(dy[i]) + h, int(dx[i]) : int(dx[i]) + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step: float, steps: int, g
) -> torch.Tensor:
    """L-inf PGD from a uniform random start, in eval mode (BatchNorm's running statistics)."""
    model.eval()
    lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    noise = torch.rand(x.shape, generator=g, device=x.device)
    x_adv = torch.max(torch.min(x + eps * (2 * noise - 1), upper), lower)
    one_hot = None
    for _ in range(steps):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        if one_hot is None:
            one_hot = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
        # d(summed cross-entropy)/d(logits) = softmax - one-hot, written out as the engine
        # does: autograd's log-softmax backward rounds differently, and a PGD sign step turns a
        # rounding difference at a near-zero gradient into a full step
        upstream = torch.softmax(logits.detach(), -1) - one_hot
        (grad,) = torch.autograd.grad(logits, x_adv, upstream)
        x_adv = torch.max(torch.min(x_adv.detach() + step * grad.sign(), upper), lower)
    model.train()
    return x_adv


def lr_factor(schedule: str, step: int, total: int) -> float:
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":  # from 1 at step 0 to 0 at the last step
        return 0.5 * (1 + math.cos(math.pi * min(step, total - 1) / max(total - 1, 1)))
    raise ValueError(f"the plain loop knows constant and cosine, not {schedule}")


def plain_train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: ExperimentConfig,
    trial: int = 0,
    level: int = 0,
) -> int:
    """Train `model` in place on (x, y) as `config` says, as trial `trial`'s level `level` would
    be seeded; returns the steps taken."""
    t, a = config.train, config.attack
    n, batch = len(x), t.batch_size
    total = math.ceil(t.train_epochs * n / batch) if t.train_epochs else t.train_iters
    params = config.train.optimizer.params
    opt = torch.optim.SGD(
        model.parameters(),
        lr=t.learning_rate,
        momentum=params.momentum,
        weight_decay=params.weight_decay,
    )
    seed = derive(config.seed, "trial", trial)
    data_seed = derive(seed, "data", level)
    augment_seed = derive(seed, "augment", level)
    attack = torch.Generator().manual_seed(derive(seed, "attack", level))
    per_epoch = n // batch
    smoothing = config.data.label_smoothing
    model.train()
    for i in range(total):
        epoch, k = divmod(i, per_epoch)
        permutation = torch.Generator().manual_seed(derive(data_seed, "epoch", epoch))
        order = torch.randperm(n, generator=permutation)
        index = order[k * batch : (k + 1) * batch]
        xb, yb = x[index], y[index]
        if t.augment == "crop-flip":
            xb = crop_flip(xb, torch.Generator().manual_seed(derive(augment_seed, i)))
        for group in opt.param_groups:
            group["lr"] = t.learning_rate * lr_factor(t.lr_schedule.name, i, total)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=smoothing)
        if t.adv_train:
            x_adv = pgd(model, xb, yb, a.eps, a.params.step_size, a.params.steps, attack)
            adv = F.cross_entropy(model(x_adv), yb, label_smoothing=smoothing)
            loss = 0.5 * loss + 0.5 * adv
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return total


SETTINGS = {
    "dataset": "cifar10",
    "model": "resnet20+channels=4",
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "learning_rate": 0.05,
    "lr_schedule": "cosine",
    "augment": "crop-flip",
    "batch_size": 32,
    "strategy": "dense",
    "seed": 1,
}


def compare(config: ExperimentConfig, splits, out: Path) -> dict[str, float]:
    """Level 0 trained by the engine and by `plain_train` from the engine's starting weights;
    the largest weight difference at the end and the seconds each took."""
    from robust_tickets.experiment import RunOptions, run_experiment
    from robust_tickets.models import create_model
    from robust_tickets.models.ticket import load_state
    from robust_tickets.store import load_tensors

    began = time.perf_counter()
    exp, _ = run_experiment(config, RunOptions(output=out, quiet=True), splits=splits)
    engine_s = time.perf_counter() - began
    level = exp.trial(0).level(0)
    shape = tuple(splits.train.x.shape[1:])
    model = create_model(config.model.model, shape, splits.num_classes, seed=0)
    load_state(model, load_tensors(level.init))
    began = time.perf_counter()
    steps = plain_train(model, splits.train.x, splits.train.y, config)
    plain_s = time.perf_counter() - began
    final = load_tensors(level.final)
    mine = model.state_dict()
    diff = max(float((final[k].float() - mine[k].float()).abs().max()) for k in final)
    return {"steps": steps, "max_abs_diff": diff, "engine_s": engine_s, "plain_s": plain_s}


def main(argv: list[str] | None = None) -> int:
    from robust_tickets.data import Split, Splits, load_splits
    from robust_tickets.resolve import from_flat

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=2000, help="first N training images")
    parser.add_argument("--epochs", type=float, default=0.5)
    parser.add_argument("--adv", action="store_true", help="PGD-3 adversarial training")
    args = parser.parse_args(argv)
    flat = {**SETTINGS, "train_epochs": args.epochs, "valid_size": 0, "test_size": 100}
    if args.adv:
        flat.update(adv_train=True, attack="pgd", steps=3)
    config = from_flat(flat)
    full = load_splits("cifar10", valid_size=0)
    n = args.train_size
    test = Split(full.test.x[:100], full.test.y[:100])
    train = Split(full.train.x[:n], full.train.y[:n])
    splits = Splits(train=train, valid=Split(test.x[:0], test.y[:0]), test=test, num_classes=10)
    with tempfile.TemporaryDirectory() as tmp:
        result = compare(config, splits, Path(tmp))
    print(" ".join(f"{k}={v:.3g}" for k, v in result.items()))
    return 0 if result["max_abs_diff"] < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
