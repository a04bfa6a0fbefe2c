"""The golden runs of tests/test_golden.py, computed in a process of their own whose arithmetic
does not depend on the CPU.

Float rounding differs between CPUs (AVX2 or AVX-512 kernels, MKL's code path for the CPU), and
adversarial training with Adam amplifies it: Adam's first steps move a weight by about the
learning rate whatever the size of its gradient, so a gradient of +1e-9 on one CPU and -1e-9 on
another moves it in opposite directions. Measured on 5 December 2026: 13 of the 34 cases, whose
numbers had been written on another machine, differed beyond 1e-4 on an AVX-512 machine. Here
MKL runs its CPU-independent path (MKL_CBWR=COMPATIBLE), ATen its unvectorised kernels
(ATEN_CPU_CAPABILITY=default), with one thread, and convolutions without oneDNN or NNPACK (whose
kernels are chosen by CPU), so every x86-64 CPU computes the same numbers. The variables take
effect only before torch starts, hence a process of its own; it costs about twice the time.

    python -m tests.golden_runs   # reads case names on stdin, writes one JSON summary per line
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

PORTABLE_ENV = {
    "MKL_CBWR": "COMPATIBLE",
    "ATEN_CPU_CAPABILITY": "default",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

# name -> (data fixture, flat overrides on top of tests.conftest.small_config)
CASES: dict[str, tuple[str, dict]] = {
    # every preset, carried down to a tiny run
    "preset-default": ("toy_fashion", {}),
    "preset-paper": ("toy_fashion", {"preset": "paper"}),
    "preset-quick": ("toy_fashion", {"preset": "quick"}),
    "preset-finding": ("toy_fashion", {"preset": "finding"}),
    "preset-lenet5": ("toy_fashion", {"preset": "lenet5"}),
    "preset-conv2": ("toy_cifar", {"preset": "conv2"}),
    "preset-conv4": ("toy_cifar", {"preset": "conv4"}),
    "preset-conv6": ("toy_cifar", {"preset": "conv6"}),
    "preset-cifar-quick": ("toy_cifar", {"preset": "cifar-quick"}),
    # (the ResNet presets at width 4, in steps rather than epochs, rewound to step 2)
    "preset-cifar-resnet": (
        "toy_cifar",
        {
            "preset": "cifar-resnet",
            "model": "preact-resnet18+channels=4",
            "train_epochs": 0.0,
            "rewind_iter": 2,
        },
    ),
    "preset-cifar-cpu": (
        "toy_cifar",
        {
            "preset": "cifar-cpu",
            "model": "resnet20+channels=4",
            "train_epochs": 0.0,
            "rewind_iter": 2,
        },
    ),
    # every strategy
    "strategy-reset": ("toy_fashion", {"strategy": "reset"}),
    "strategy-rewind": ("toy_fashion", {"strategy": "rewind", "rewind_iter": 6}),
    "strategy-rewind_trained": ("toy_fashion", {"strategy": "rewind_trained"}),
    "strategy-continue": ("toy_fashion", {"strategy": "continue"}),
    "strategy-random": ("toy_fashion", {"strategy": "random"}),
    "strategy-dense": ("toy_fashion", {"strategy": "dense"}),
    # every criterion, and global allocation
    "criterion-random": ("toy_fashion", {"criterion": "random"}),
    "criterion-shuffle": ("toy_fashion", {"criterion": "shuffle"}),
    "criterion-snip": ("toy_fashion", {"criterion": "snip", "one_shot": True}),
    "criterion-hydra": ("toy_fashion", {"criterion": "hydra", "one_shot": True}),
    "allocation-global": ("toy_fashion", {"prune_method": "global"}),
    # every training attack, adversarial and natural, on the fast MLP path and on LeNet-5
    "attack-fgsm-adv": ("toy_fashion", {"attack": "fgsm", "adv_train": True}),
    "attack-fgsm-nat": ("toy_fashion", {"attack": "fgsm", "adv_train": False}),
    "attack-pgd-adv": ("toy_fashion", {"attack": "pgd", "adv_train": True, "steps": 3}),
    "attack-pgd-nat": ("toy_fashion", {"attack": "pgd", "adv_train": False, "steps": 3}),
    "attack-nfgsm-adv": ("toy_fashion", {"attack": "nfgsm", "adv_train": True}),
    "attack-fgsm-rs-adv": ("toy_fashion", {"attack": "fgsm-rs", "adv_train": True}),
    "lenet5-pgd-adv": (
        "toy_fashion",
        {"model": "lenet5", "attack": "pgd", "adv_train": True, "steps": 3},
    ),
    # the original's numerics and loop one at a time
    "keras-loop": ("toy_fashion", {"train_loop": "keras"}),
    "keras-adam": ("toy_fashion", {"adam": "keras"}),
    # (a learning rate high enough that probabilities saturate, where the clipping matters)
    "clipped-loss": ("toy_fashion", {"loss_form": "clipped", "learning_rate": 0.05}),
    "logits-loss-high-lr": ("toy_fashion", {"loss_form": "logits", "learning_rate": 0.05}),
}

# The tiny scale every case is carried down to (presets set longer runs and more levels).
TINY = {"train_iters": 12, "eval_every": 6, "prune_iters": 2}
# Conv nets on CIFAR-10's shapes cost far more a step: fewer steps, one pruning level, 2 PGD steps.
TINY_CONV = {"train_iters": 4, "eval_every": 2, "prune_iters": 1, "steps": 2}


def _config(overrides: dict):
    from tests.conftest import small_config

    from robust_tickets.config import PRESETS

    values = dict(overrides)
    preset = values.pop("preset", None)
    flat = {**(PRESETS[preset] if preset else {}), **values}
    flat.update(TINY_CONV if flat.get("dataset") == "cifar10" else TINY)
    if flat.get("strategy") == "dense":
        flat["prune_iters"] = 0
    return small_config(**flat)


def _summary(exp) -> dict:
    from robust_tickets.store import load_tensors, read_metrics

    levels = []
    for _, level in exp.trial(0).levels():
        masks, final = load_tensors(level.masks), load_tensors(level.final)
        weights = {
            name: [float(t.double().sum()), float(t.double().norm())]
            for name, t in sorted(final.items())
        }
        counts = {name: int(m.sum()) for name, m in sorted(masks.items())}
        metrics = [
            {k: v for k, v in row.items() if isinstance(v, (int, float))}
            for row in read_metrics(level.metrics)
        ]
        levels.append({"masks": counts, "weights": weights, "metrics": metrics})
    return {"levels": levels}


def run_case(case: str) -> dict:
    """Runs one case (in this process: call it only where PORTABLE_ENV was set before torch)."""
    import torch
    from tests.conftest import TOYS, toy_splits

    from robust_tickets.experiment import RunOptions, run_experiment

    fixture, overrides = CASES[case]
    torch.manual_seed(0)  # nothing may depend on it; a leak would show as a difference
    with tempfile.TemporaryDirectory() as out:
        options = RunOptions(trials=1, output=out, quiet=True)
        exp, _ = run_experiment(_config(overrides), options, splits=toy_splits(*TOYS[fixture]))
        return _summary(exp)


def main() -> None:
    os.environ.update(PORTABLE_ENV)  # before torch starts
    import torch

    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    for line in sys.stdin:
        print(json.dumps(run_case(line.strip())), flush=True)


if __name__ == "__main__":
    main()
