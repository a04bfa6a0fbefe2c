"""The paired masking checks (`square-vs-ce`, `ce-vs-dlr`) on constructed per-example results:
each warns on what it is meant to catch (the PGD-trained MNIST MLP of docs/replication) and
passes on a healthy network and on differences within chance."""

from __future__ import annotations

import math

import pytest
import torch

from robust_tickets.evaluation.checks import Thresholds, binomial_tail, needed, run_checks
from robust_tickets.evaluation.store import Entry

EPS = 0.3


def _robust(n: int, *index_ranges: tuple[int, int]) -> torch.Tensor:
    """bool [n], True on the given [start, stop) ranges."""
    out = torch.zeros(n, dtype=torch.bool)
    for start, stop in index_ranges:
        out[start:stop] = True
    return out


def _checks(results: dict[str, torch.Tensor], eps: float = EPS) -> dict[str, dict]:
    entries = {
        name: Entry(name, "", eps, len(robust), "check", 0.0, robust)
        for name, robust in results.items()
    }
    report = run_checks(lambda attack, e: entries.get(attack) if e == eps else None, [], eps)
    return {c["check"]: c for c in report["checks"]}


def test_binomial_tail_is_exact():
    assert binomial_tail(0, 10, 0.3) == 1.0 and binomial_tail(11, 10, 0.3) == 0.0
    assert binomial_tail(3, 3, 0.5) == pytest.approx(1 / 8)
    expected = sum(math.comb(20, i) * 0.1**i * 0.9 ** (20 - i) for i in range(5, 21))
    assert binomial_tail(5, 20, 0.1) == pytest.approx(expected, rel=1e-12)
    # large n (mean 500, sd 22): no overflow, sensible far tails
    assert 0.0 < binomial_tail(700, 10_000, 0.05) < 1e-15
    assert binomial_tail(400, 10_000, 0.05) > 1 - 1e-5


def test_the_masked_mnist_mlp_warns_on_both():
    """docs/replication, PGD-trained MNIST MLP at eps 0.3 on 1,000 images: APGD-CE 25.3%,
    pgd-restarts 32.7%, Square 22.3%, APGD-T 10.4%. Nested sets: APGD-CE's survivors include
    APGD-T's; Square keeps APGD-T's 104 and 119 of the others."""
    n = 1000
    results = {
        "apgd-ce": _robust(n, (0, 253)),
        "pgd-restarts": _robust(n, (0, 253), (500, 574)),
        "apgd-t": _robust(n, (0, 104)),
        "square": _robust(n, (0, 223)),
    }
    checks = _checks(results)
    square, dlr = checks["square-vs-ce"], checks["ce-vs-dlr"]
    assert square["flag"] == "warn" and dlr["flag"] == "warn", (square, dlr)
    assert square["values"]["only_square"] == 30 and square["values"]["only_ce"] == 0
    assert dlr["values"]["left"] == 253 and dlr["values"]["broken"] == 149
    assert "0.223" in square["detail"] and "0.253" in square["detail"]
    assert "149 of the 253" in dlr["detail"] and "\n" not in dlr["detail"]
    # the existing black-box check compares Square with APGD-T as well, so it passes here
    assert checks["black-box"]["flag"] == "skip"  # (no white-box curve entries given)


def test_a_healthy_network_passes_both():
    """Square far weaker than the CE attacks; APGD-T breaks 3% of what they leave."""
    n = 2000
    results = {
        "apgd-ce": _robust(n, (0, 1000)),
        "pgd-restarts": _robust(n, (0, 1010)),
        "apgd-t": _robust(n, (30, 1000)),
        "square": _robust(n, (0, 1300)),
    }
    checks = _checks(results)
    assert checks["square-vs-ce"]["flag"] == "pass", checks["square-vs-ce"]
    assert checks["ce-vs-dlr"]["flag"] == "pass", checks["ce-vs-dlr"]
    assert checks["ce-vs-dlr"]["values"]["broken"] == 30


@pytest.mark.parametrize("n", [100, 1000])
def test_differences_within_chance_pass(n):
    """Square ahead of APGD-CE by 5 of 100 or 1000 examples (5 only-Square, 0 only-CE:
    p = 1/32), and the targeted attack breaking 15% of 40 survivors (p about 0.2): no warning."""
    results = {
        "apgd-ce": _robust(n, (0, 40)),
        "square": _robust(n, (5, 40)),
        "apgd-t": _robust(n, (6, 40)),
    }
    checks = _checks(results)
    assert checks["square-vs-ce"]["flag"] == "pass"
    assert checks["square-vs-ce"]["values"]["p"] == pytest.approx(1 / 32)
    assert checks["ce-vs-dlr"]["flag"] == "pass"


def test_the_threshold_is_the_significance_not_the_raw_gap():
    """The same 20% share of survivors broken warns on 2,000 survivors, not on 20."""
    big = {"apgd-ce": _robust(10_000, (0, 2000)), "apgd-t": _robust(10_000, (400, 2000))}
    small = {"apgd-ce": _robust(100, (0, 20)), "apgd-t": _robust(100, (4, 20))}
    assert _checks(big)["ce-vs-dlr"]["flag"] == "warn"
    assert _checks(small)["ce-vs-dlr"]["flag"] == "pass"
    strict = Thresholds(dlr_share=0.25)  # a looser share allowed: 20% is fine
    entries = {k: Entry(k, "", EPS, 10_000, "check", 0.0, v) for k, v in big.items()}
    report = run_checks(lambda a, e: entries.get(a), [], EPS, strict)
    assert {c["check"]: c["flag"] for c in report["checks"]}["ce-vs-dlr"] == "pass"


def test_each_side_is_the_worst_case_of_its_attacks():
    """pgd-restarts fools what APGD-CE missed: Square's lead over APGD-CE alone disappears."""
    n = 1000
    results = {
        "apgd-ce": _robust(n, (0, 300)),
        "pgd-restarts": _robust(n, (0, 200)),
        "square": _robust(n, (0, 250)),
    }
    checks = _checks(results)
    assert checks["square-vs-ce"]["flag"] == "pass"
    assert checks["square-vs-ce"]["values"]["ce_attacks"] == "apgd-ce+pgd-restarts"
    assert checks["square-vs-ce"]["values"]["ce"] == pytest.approx(0.2)
    del results["pgd-restarts"]
    assert _checks(results)["square-vs-ce"]["flag"] == "warn"


def test_nothing_robust_passes():
    none = torch.zeros(50, dtype=torch.bool)
    checks = _checks({"apgd-ce": none, "apgd-t": none, "square": none})
    assert checks["square-vs-ce"]["flag"] == "pass" and checks["ce-vs-dlr"]["flag"] == "pass"
    assert "no example left" in checks["ce-vs-dlr"]["detail"]


def test_missing_attacks_skip_with_a_reason():
    checks = _checks({"apgd-ce": _robust(10, (0, 5))})
    for name in ("square-vs-ce", "ce-vs-dlr"):
        assert checks[name]["flag"] == "skip" and "not run" in checks[name]["detail"]


def test_evaluate_runs_what_the_new_checks_read():
    asked = {attack for attack, eps in needed(EPS, with_surrogate=False) if eps == EPS}
    assert {"square", "apgd-ce", "apgd-t"} <= asked
