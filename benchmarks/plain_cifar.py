"""A plain PyTorch CIFAR-10 training loop beside the engine's level 0: the same settings, its own
code.

`plain_train` trains a network the textbook way (`torch.optim.SGD` with momentum and weight
decay, BatchNorm in train mode, cross-entropy, optionally label-smoothed) with its own random
crop and flip (one image at a time: pad, slice, mirror) and its own batch order, for one of
three objectives: natural; `mixed`, Madry's PGD mixed 50/50 with the natural loss; `madry`, the
adversarial loss alone, its examples from PGD or N-FGSM (de Jorge et al. 2022). It takes from
the engine only what makes the two runs the same run: the network's starting weights, and the
seeds (`robust_tickets.seeds.derive`, a hash) from which the engine draws each epoch's
permutation, each step's crop offsets and flips, and the attack's random starts.
tests/test_plain_loop.py checks that both end at the same weights after a few steps.

Two uses from the command line:

- `python benchmarks/plain_cifar.py [--train-size N --epochs E --adv]` trains both on the first
  N real CIFAR-10 images and reports how far apart they end and how long each took;
- `python benchmarks/plain_cifar.py --preset cifar-cpu --trials 0,1,2 --out DIR
  [--engine-store EXP]` trains a preset's dense level 0 for those trials with the plain loop
  alone, measures it as the engine's end-of-level metrics rows do (natural and attacked accuracy
  on the run's test images) and writes one CSV row per trial; with the engine's experiment
  directory it also records how far each trial's weights end from the engine's.
  benchmarks/plain_cifar_compare.py sets those rows beside the engine's.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import torch
import torch.nn.functional as F
from torch import nn

from robust_tickets.config import AttackConfig, ExperimentConfig
from robust_tickets.seeds import derive

PAD = 4
EVAL_BATCH = 1_000  # the engine's evaluation batch: its attack draws its noise batch by batch


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


def input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d(summed cross-entropy of labels y)/dx, with the model in the mode it is in.

    d(CE)/d(logits) = softmax - one-hot is written out, as the engine does: autograd's
    log-softmax backward rounds differently, and a sign step turns a rounding difference at a
    near-zero gradient component into a full step."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    one_hot = F.one_hot(y, logits.shape[-1]).to(logits.dtype)
    upstream = torch.softmax(logits.detach(), -1) - one_hot
    (grad,) = torch.autograd.grad(logits, x, upstream)
    return grad


def pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step: float, steps: int, g
) -> torch.Tensor:
    """L-inf PGD from a uniform random start, in eval mode (BatchNorm's running statistics)."""
    was_training = model.training
    model.eval()
    lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    noise = torch.rand(x.shape, generator=g, device=x.device)
    x_adv = torch.max(torch.min(x + eps * (2 * noise - 1), upper), lower)
    for _ in range(steps):
        grad = input_grad(model, x_adv, y)
        x_adv = torch.max(torch.min(x_adv + step * grad.sign(), upper), lower)
    model.train(was_training)
    return x_adv


def nfgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    noise: float,
    step: float,
    g: torch.Generator,
) -> torch.Tensor:
    """N-FGSM (de Jorge et al. 2022) in eval mode: a uniform start in [-noise*eps, noise*eps]
    kept in [0, 1], one signed gradient step of step*eps, then [0, 1] again and nothing else: no
    projection onto the eps-ball, so a pixel may move by (noise + step) * eps."""
    was_training = model.training
    model.eval()
    start = x
    if noise > 0:
        u = torch.rand(x.shape, generator=g, device=x.device)
        start = (x + noise * eps * (2 * u - 1)).clamp(0, 1)
    grad = input_grad(model, start, y)
    model.train(was_training)
    return (start + step * eps * grad.sign()).clamp(0, 1)


def draws_noise(a: AttackConfig) -> bool:
    """Whether the attack draws uniform noise shaped like its batch (once per batch)."""
    p = a.attack.params
    return (a.attack.name == "nfgsm" and p.noise > 0) or (a.attack.name == "pgd" and p.random_start)


def adversarial(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, a: AttackConfig, g: torch.Generator
) -> torch.Tensor:
    """The adversarial batch of the run's attack (`a`) on labels y."""
    p = a.attack.params
    if a.attack.name == "nfgsm":
        return nfgsm(model, x, y, a.eps, p.noise, p.step, g)
    if a.attack.name == "pgd" and p.random_start:
        return pgd(model, x, y, a.eps, p.step_size, p.steps, g)
    raise ValueError(f"the plain loop knows PGD from a random start and N-FGSM, not {a.attack}")


def lr_factor(schedule: str, step: int, total: int) -> float:
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":  # from 1 at step 0 to 0 at the last step
        return 0.5 * (1 + math.cos(math.pi * min(step, total - 1) / max(total - 1, 1)))
    raise ValueError(f"the plain loop knows constant and cosine, not {schedule}")


def check_supported(config: ExperimentConfig) -> None:
    """A ValueError for a setting this loop does not implement, rather than a silently other
    run."""
    t = config.train
    problems = []
    if t.objective.name not in ("natural", "mixed", "madry"):
        problems.append(f"objective {t.objective.name}")
    if t.objective.name == "mixed" and config.attack.attack_labels != "true":
        problems.append("mixed on predicted labels")
    if t.optimizer.name != "sgd" or t.optimizer.params.nesterov:
        problems.append(f"optimizer {t.optimizer}")
    if t.lr_schedule.name not in ("constant", "cosine") or any(vars(t.lr_schedule.params).values()):
        problems.append(f"schedule {t.lr_schedule}")
    if t.train_loop != "steps" or t.stop_step or t.l1_reg or t.co_check or t.loss_form != "logits":
        problems.append("train_loop, stop_step, l1_reg, co_check or loss_form off their defaults")
    if t.augment not in ("none", "crop-flip"):
        problems.append(f"augment {t.augment}")
    if problems:
        raise ValueError(f"the plain loop does not implement: {'; '.join(problems)}")


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
    check_supported(config)
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
    objective = t.objective.name
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
        if objective == "madry":  # the adversarial batch alone: no natural forward at all
            x_adv = adversarial(model, xb, yb, a, attack)
            loss = F.cross_entropy(model(x_adv), yb, label_smoothing=smoothing)
        else:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=smoothing)
            if objective == "mixed":
                x_adv = adversarial(model, xb, yb, a, attack)
                adv = F.cross_entropy(model(x_adv), yb, label_smoothing=smoothing)
                loss = 0.5 * loss + 0.5 * adv
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return total


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    a: AttackConfig,
    generator: torch.Generator,
    skip: int = 0,
) -> dict[str, float]:
    """Natural and adversarial accuracy and mean cross-entropy on (x, y) as the engine's metrics
    rows measure them: eval mode, batches of EVAL_BATCH, the run's own attack (`a`: at its eps,
    N-FGSM unprojected as in training) on the labels `a.attack_labels` chooses (true, or the
    natural predictions), each prediction scored and each loss taken against the true label.

    `skip`: images attacked before these with the same generator (the engine evaluates its
    validation split first, then the test split, with one generator): their noise is drawn and
    dropped so that these images get the engine's draws."""
    if draws_noise(a):
        for first in range(0, skip, EVAL_BATCH):
            torch.rand((min(EVAL_BATCH, skip - first), *x.shape[1:]), generator=generator)
    was_training = model.training
    model.eval()
    sums = {"natural": 0.0, "adversarial": 0.0, "natural_loss": 0.0, "adversarial_loss": 0.0}
    for first in range(0, len(x), EVAL_BATCH):
        xb, yb = x[first : first + EVAL_BATCH], y[first : first + EVAL_BATCH]
        with torch.no_grad():
            logits = model(xb)
        labels = yb if a.attack_labels == "true" else logits.argmax(1)
        x_adv = adversarial(model, xb, labels, a, generator)
        with torch.no_grad():
            for name, out in (("natural", logits), ("adversarial", model(x_adv))):
                sums[name] += float((out.argmax(1) == yb).sum())
                sums[f"{name}_loss"] += float(F.cross_entropy(out, yb, reduction="sum"))
    model.train(was_training)
    return {k: v / len(x) for k, v in sums.items()}


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest difference between two whole states (parameters and buffers)."""
    if a.keys() != b.keys():
        raise ValueError("the two states hold different tensors")
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def plain_trial(config: ExperimentConfig, splits, trial: int, engine=None) -> dict[str, float]:
    """Level 0 of trial `trial` trained by `plain_train` on `splits.train` from the start the
    engine builds for it, then measured on `splits.test` as the engine's end-of-level row is.
    `engine`: the engine's `ExperimentDir` of the same run, or None; with it the start is checked
    against the engine's and the end compared with its final weights, where they exist."""
    from robust_tickets.models import create_model
    from robust_tickets.store import load_tensors

    seed = derive(config.seed, "trial", trial)
    shape = tuple(splits.train.x.shape[1:])
    model = create_model(config.model.model, shape, splits.num_classes, derive(seed, "init"))
    level = engine.trial(trial).level(0) if engine is not None else None
    started = load_tensors(level.init) if level is not None and level.init.is_file() else None
    if started is not None and max_abs_diff(started, model.state_dict()) != 0:
        raise ValueError(f"trial {trial}: the engine's level 0 starts elsewhere: {level.init}")
    began = time.perf_counter()
    steps = plain_train(model, splits.train.x, splits.train.y, config, trial=trial)
    # the engine's evaluation after the level's last step: seeded by (trial, level 0, step)
    generator = torch.Generator().manual_seed(derive(seed, "eval", 0, steps))
    skip = len(splits.valid)
    measured = evaluate(model, splits.test.x, splits.test.y, config.attack, generator, skip)
    row = {
        "trial": trial,
        **measured,
        "seconds": round(time.perf_counter() - began, 1),
        "max_abs_diff": "",  # blank: no engine weights to compare with
        "steps": steps,
        "train_images": len(splits.train),
        "test_images": len(splits.test),
        "threads": torch.get_num_threads(),
    }
    if level is not None and level.final.is_file():
        row["max_abs_diff"] = max_abs_diff(load_tensors(level.final), model.state_dict())
    return row


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


CSV_FIELDS = (
    "trial",
    "natural",
    "adversarial",
    "seconds",
    "max_abs_diff",
    "natural_loss",
    "adversarial_loss",
    "steps",
    "train_images",
    "test_images",
    "threads",
)


def fail(message: str) -> NoReturn:
    """Bad input: one line on stderr and exit code 2, as argparse's own errors."""
    print(f"plain_cifar.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def engine_store(path: Path, config: ExperimentConfig):
    """The engine's experiment directory at `path`, checked to train level 0 as `config` does:
    the same data, model, attack, training and seed (the pruning settings may differ: the
    random-mask control's level 0 is the same dense network)."""
    from robust_tickets.store import ExperimentDir

    exp = ExperimentDir(path)
    if not exp.config_file.is_file():
        fail(f"--engine-store {path}: no config.yaml there (give an experiment directory)")
    stored = exp.config()
    level_0 = ("data", "model", "attack", "train", "seed")
    if any(getattr(stored, k) != getattr(config, k) for k in level_0):
        fail(f"--engine-store {path}: its level 0 is not the preset's (give that preset's run)")
    return exp


def run_preset(args: argparse.Namespace) -> Path:
    """The `--preset` mode: plain-loop rows for the chosen trials, written to the CSV as each
    finishes; trials already there (for the same number of training images) are kept."""
    from robust_tickets.config import PRESETS
    from robust_tickets.data import Split, load_splits
    from robust_tickets.engine.trial import with_test_size
    from robust_tickets.resolve import from_flat

    torch.set_num_threads(args.threads)
    config = from_flat(dict(PRESETS[args.preset]))
    try:
        check_supported(config)
    except ValueError as error:
        fail(f"--preset {args.preset}: {error}")
    engine = engine_store(args.engine_store, config) if args.engine_store else None
    splits = with_test_size(load_splits(config.data.dataset, config.data.valid_size), config)
    if args.train_size:  # a smoke test on the first N training images
        train = Split(splits.train.x[: args.train_size], splits.train.y[: args.train_size])
        splits = dataclasses.replace(splits, train=train)
    out = args.out / f"plain-{args.preset}.csv"
    rows = []
    if out.is_file():
        with out.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["train_images"]) == len(splits.train)]
    done = {int(r["trial"]) for r in rows}
    for trial in args.trials:
        if trial in done:
            print(f"trial {trial}: already in {out}")
            continue
        row = plain_trial(config, splits, trial, engine)
        rows.append(row)
        args.out.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as f:
            writer = csv.DictWriter(f, CSV_FIELDS)
            writer.writeheader()
            writer.writerows(sorted(rows, key=lambda r: int(r["trial"])))
        print(" ".join(f"{k}={row[k]}" for k in CSV_FIELDS), flush=True)
    return out


def trial_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    from robust_tickets.config import PRESETS
    from robust_tickets.data import Split, Splits, load_splits
    from robust_tickets.resolve import from_flat

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="first N training images (default 2000; with --preset all of the preset's, and N "
        "makes a smoke test)",
    )
    parser.add_argument("--epochs", type=float, default=0.5)
    parser.add_argument("--adv", action="store_true", help="PGD-3 adversarial training")
    cifar = sorted(k for k, v in PRESETS.items() if v.get("dataset") == "cifar10")
    parser.add_argument("--preset", choices=cifar, help="train this preset's level 0")
    parser.add_argument("--trials", type=trial_list, default=[0], help="with --preset: 0,1,2")
    parser.add_argument("--out", type=Path, help="with --preset: the CSV's folder")
    parser.add_argument(
        "--engine-store", type=Path, help="with --preset: the engine's experiment directory"
    )
    parser.add_argument("--threads", type=int, default=1, help="with --preset: torch threads")
    args = parser.parse_args(argv)
    if args.preset:
        if args.out is None:
            parser.error("--preset needs --out DIR")
        print(f"wrote {run_preset(args)}")
        return 0
    flat = {**SETTINGS, "train_epochs": args.epochs, "valid_size": 0, "test_size": 100}
    if args.adv:
        flat.update(adv_train=True, attack="pgd", steps=3)
    config = from_flat(flat)
    full = load_splits("cifar10", valid_size=0)
    n = args.train_size or 2000
    test = Split(full.test.x[:100], full.test.y[:100])
    train = Split(full.train.x[:n], full.train.y[:n])
    splits = Splits(train=train, valid=Split(test.x[:0], test.y[:0]), test=test, num_classes=10)
    with tempfile.TemporaryDirectory() as tmp:
        result = compare(config, splits, Path(tmp))
    print(" ".join(f"{k}={v:.3g}" for k, v in result.items()))
    return 0 if result["max_abs_diff"] < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
