"""Same seeds, same numbers: tiny runs of every preset, strategy, criterion and training attack
compared with numbers committed in tests/golden/runs.json before the component redesign
(issue 23), so a refactor that changes what a run computes fails here.

Masks are compared by their per-layer counts (exact), trained weights by per-tensor sums and
norms, metrics by every accuracy and loss (relative 1e-4: far below what a changed random
stream, order of operations or loss would move).

The runs happen in one worker process with CPU-independent arithmetic (tests/golden_runs.py:
another CPU's rounding, amplified by adversarial training, had moved 13 of the 34 cases beyond
1e-4), so the numbers are the same on every x86-64 machine.

Regenerate only for an intended change of results, and say so in the commit:
    GOLDEN_WRITE=1 python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.golden_runs import CASES, PORTABLE_ENV

GOLDEN = Path(__file__).parent / "golden" / "runs.json"
WRITE = bool(os.environ.get("GOLDEN_WRITE"))
RTOL = 1e-4


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
def worker():
    """One process computing the cases asked of it, with CPU-independent arithmetic."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, **PORTABLE_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.golden_runs"],
        cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    yield proc
    proc.stdin.close()
    proc.wait(timeout=60)


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
def test_same_seeds_give_the_committed_numbers(case, golden, worker):
    worker.stdin.write(case + "\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    assert line, f"the golden worker stopped on {case} (its error is above)"
    got = json.loads(line)
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
