"""Same seeds, same numbers: tiny runs of every preset, strategy, criterion and training attack
compared with numbers committed in tests/golden/runs.json before the component redesign
(issue 23), so a refactor that changes what a run computes fails here.

Masks are compared by their per-layer counts (exact), trained weights by per-tensor sums and
norms, metrics by every accuracy and loss (relative 1e-4: far below what a changed random
stream, order of operations or loss would move, far above another CPU's rounding).

Regenerate only for an intended change of results, and say so in the commit:
    GOLDEN_WRITE=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from tests.conftest import small_config

from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.store import load_tensors, read_metrics

GOLDEN = Path(__file__).parent / "golden" / "runs.json"
WRITE = bool(os.environ.get("GOLDEN_WRITE"))
RTOL = 1e-4

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
    from robust_tickets.config import PRESETS

    values = dict(overrides)
    preset = values.pop("preset", None)
    flat = {**(PRESETS[preset] if preset else {}), **values}
    flat.update(TINY_CONV if flat.get("dataset") == "cifar10" else TINY)
    if flat.get("strategy") == "dense":
        flat["prune_iters"] = 0
    return small_config(**flat)


def _summary(exp) -> dict:
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


def _close(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-6), f"{where}: {a} != {b} (golden)"
    else:
        assert a == b, f"{where}: {a} != {b} (golden)"


@pytest.fixture(scope="module")
def golden() -> dict:
    if WRITE:
        data: dict = {}
        yield data
        GOLDEN.parent.mkdir(exist_ok=True)
        lines = [
            f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(data.items())
        ]
        GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n")
        return
    yield json.loads(GOLDEN.read_text())


def _param(case: str):
    slow = CASES[case][0] == "toy_cifar" or case in ("criterion-hydra", "lenet5-pgd-adv")
    return pytest.param(case, marks=pytest.mark.slow) if slow else case


@pytest.mark.parametrize("case", [_param(c) for c in sorted(CASES)])
def test_same_seeds_give_the_committed_numbers(case, golden, tmp_path, request):
    fixture, overrides = CASES[case]
    splits = request.getfixturevalue(fixture)
    torch.manual_seed(0)  # nothing may depend on it; a leak would show as a difference
    exp, _ = run_experiment(
        _config(overrides), RunOptions(trials=1, output=tmp_path, quiet=True), splits=splits
    )
    got = _summary(exp)
    if WRITE:
        golden[case] = got
        return
    assert case in golden, f"no golden numbers for {case}: GOLDEN_WRITE=1 (see the docstring)"
    _close(got, golden[case], case)


def test_every_registered_component_has_a_golden_case():
    from robust_tickets.attacks import ATTACKS
    from robust_tickets.config import PRESETS
    from robust_tickets.pruning import CRITERIA, STRATEGIES

    covered = {tuple(sorted(o.items())) for _, o in CASES.values()}
    flat = {(k, v) for items in covered for k, v in items}
    for name in PRESETS:
        assert ("preset", name) in flat, f"preset {name} has no golden case"
    for name in STRATEGIES.names():
        assert ("strategy", name) in flat, f"strategy {name} has no golden case"
    for name in CRITERIA.names():
        assert name == "magnitude" or ("criterion", name) in flat, f"criterion {name}"
    for name in ATTACKS.names():
        assert ("attack", name) in flat, f"attack {name} has no golden case"
