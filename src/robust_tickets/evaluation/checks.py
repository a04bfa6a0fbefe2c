"""Gradient-masking checks (Athalye et al., 2018; Carlini et al., 2019), each pass/warn/skip.

A model that masks its gradients looks robust to gradient attacks without being robust. The
symptoms checked here, all on the same test examples:

- ``monotone``: no curve attack's accuracy (nor their worst case) rises with eps;
- ``unbounded``: at eps = 1 (any image allowed) white-box PGD drives accuracy to about zero;
- ``more-steps``: PGD with more steps and restarts is never weaker than FGSM or training PGD;
- ``black-box``: Square (no gradients) is not stronger than the white-box attacks together;
- ``transfer``: examples crafted on the dense network are weaker than white-box ones;
- ``square-vs-ce``: Square is not significantly stronger than the white-box cross-entropy
  attacks (APGD-CE, PGD with restarts) on the same examples (exact one-sided McNemar test);
- ``ce-vs-dlr``: the DLR/targeted attacks (APGD-T, APGD-DLR, FAB-T) do not break significantly
  more than a tenth of the examples the cross-entropy attacks leave (exact binomial test). Both
  catch a network whose cross-entropy gradients mislead (the PGD-trained MNIST MLP at eps 0.3:
  APGD-CE 25.3%, Square 22.3%, APGD-T 10.4%), which the two checks above miss whenever another
  white-box attack finds what APGD-CE missed;
- ``library``: the project's FGSM/PGD and torchattacks' agree (same inputs, same random start)
  to within one example per thousand (an implementation check rather than a masking one; it is
  skipped where the optional torchattacks is not installed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from robust_tickets.evaluation.attacks import EVAL_ATTACKS
from robust_tickets.evaluation.robustness import worst_case
from robust_tickets.evaluation.store import Entry

UNBOUNDED_EPS = 1.0
PASS, WARN, SKIP = "pass", "warn", "skip"
WORST = "worst-case"


# White-box attacks on the cross-entropy, and on other losses (DLR, targeted), that the paired
# checks compare when they were evaluated; each side's per-example worst case is its strength.
CE_ATTACKS = ("apgd-ce", "pgd-restarts")
OTHER_LOSS_ATTACKS = ("apgd-t", "apgd-dlr", "fab-t")


@dataclass(frozen=True)
class Thresholds:
    tolerance: float = 0.01  # accuracy slack when comparing two attacks on the same examples
    monotone_tolerance: float = 0.005  # allowed rise of accuracy between consecutive eps
    unbounded_max: float = 0.05  # white-box accuracy allowed at eps = 1
    library_per_example: float = 0.001  # allowed |difference| / n, project vs torchattacks
    # p-value below which a paired test warns: a study checks hundreds of tickets, so 0.001
    # keeps chance warnings to a fraction of one per study (docs/evaluation.md)
    alpha: float = 0.001
    # share of the cross-entropy attacks' survivors the DLR/targeted attacks may break: a few
    # percent without masking, 59% on the masked MLP above (docs/evaluation.md)
    dlr_share: float = 0.1


def needed(check_eps: float, with_surrogate: bool) -> list[tuple[str, float]]:
    """The (attack, eps) evaluations the checks read."""
    from robust_tickets.evaluation import library

    cross = ["ta-fgsm", "ta-pgd"] if library.available() else []  # optional library
    at = ["fgsm", "pgd", *cross, "pgd-restarts", "apgd-ce", "apgd-t", "square"]
    at += ["transfer"] if with_surrogate else []
    return [(a, check_eps) for a in at] + [("pgd-restarts", UNBOUNDED_EPS)]


Lookup = Callable[[str, float], Entry | None]


def run_checks(
    lookup: Lookup,
    entries: list[Entry],
    check_eps: float,
    thresholds: Thresholds = Thresholds(),
) -> dict[str, Any]:
    """Every check on one model. `lookup(attack, eps)` finds an entry; `entries` are all of
    this model's entries at one n (for the curve and the white-box worst case)."""
    n = entries[0].n if entries else 0
    t = thresholds
    white = [
        e for e in entries if e.eps == check_eps and EVAL_ATTACKS.get(e.attack).kind == "white-box"
    ]
    white_robust = worst_case(e.robust for e in white) if white else None
    results = [
        _monotone(entries, t),
        _unbounded(lookup, t),
        _more_steps(lookup, check_eps, t),
        _beats_white_box("black-box", "square", lookup, check_eps, white_robust, t),
        _beats_white_box("transfer", "transfer", lookup, check_eps, white_robust, t),
        _square_vs_ce(lookup, check_eps, t),
        _ce_vs_dlr(lookup, check_eps, t),
        _library(lookup, check_eps, n, t),
    ]
    flag = WARN if any(r["flag"] == WARN for r in results) else PASS
    return {
        "flag": flag,
        "eps": check_eps,
        "n": n,
        "thresholds": asdict(t),
        "checks": results,
    }


def _result(name: str, flag: str, detail: str, **values: Any) -> dict[str, Any]:
    return {"check": name, "flag": flag, "detail": detail, "values": values}


def _acc(entry: Entry) -> float:
    return float(entry.robust.float().mean())


def _monotone(entries: list[Entry], t: Thresholds) -> dict[str, Any]:
    """Each curve attack's accuracy, and their worst case, must not rise with eps (a rising
    FGSM curve is the classic sign of a network trained to mask FGSM's gradient)."""
    by_attack: dict[str, dict[float, list[torch.Tensor]]] = {}
    for e in entries:
        if e.role == "curve":
            by_attack.setdefault(e.attack, {}).setdefault(e.eps, []).append(e.robust)
            by_attack.setdefault(WORST, {}).setdefault(e.eps, []).append(e.robust)
    curves = {
        name: {eps: float(worst_case(r).float().mean()) for eps, r in sorted(points.items())}
        for name, points in sorted(by_attack.items())
    }
    if len(curves.get(WORST, {})) < 2:
        return _result("monotone", SKIP, "fewer than two eps evaluated", curves=curves)
    rising = []
    for name, curve in curves.items():
        eps, acc = list(curve), list(curve.values())
        if len(acc) < 2:
            continue
        rise, k = max((acc[k + 1] - acc[k], k) for k in range(len(acc) - 1))
        if rise > t.monotone_tolerance:
            rising.append(f"{name} rises by {rise:.3f} from eps {eps[k]:g} to {eps[k + 1]:g}")
    if rising:
        return _result("monotone", WARN, "; ".join(rising), curves=curves)
    return _result("monotone", PASS, "no attack's accuracy rises with eps", curves=curves)


def _unbounded(lookup: Lookup, t: Thresholds) -> dict[str, Any]:
    e = lookup("pgd-restarts", UNBOUNDED_EPS)
    if e is None:
        return _result("unbounded", SKIP, "pgd-restarts at eps 1 not evaluated")
    acc = _acc(e)
    flag = PASS if acc <= t.unbounded_max else WARN
    return _result("unbounded", flag, f"pgd-restarts accuracy at eps 1 is {acc:.3f}", acc=acc)


def _more_steps(lookup: Lookup, eps: float, t: Thresholds) -> dict[str, Any]:
    strong = lookup("pgd-restarts", eps)
    weak = {name: lookup(name, eps) for name in ("fgsm", "pgd")}
    weak = {k: _acc(v) for k, v in weak.items() if v is not None}
    if strong is None or not weak:
        return _result("more-steps", SKIP, "pgd-restarts or fgsm/pgd not evaluated")
    acc = _acc(strong)
    worst_name = min(weak, key=weak.get)
    flag = PASS if acc <= weak[worst_name] + t.tolerance else WARN
    detail = f"pgd-restarts {acc:.3f} vs {worst_name} {weak[worst_name]:.3f}"
    return _result("more-steps", flag, detail, strong=acc, **weak)


def _beats_white_box(
    name: str,
    attack: str,
    lookup: Lookup,
    eps: float,
    white_robust: torch.Tensor | None,
    t: Thresholds,
) -> dict[str, Any]:
    e = lookup(attack, eps)
    if e is None or white_robust is None:
        return _result(name, SKIP, f"{attack} or white-box attacks not evaluated at eps {eps:g}")
    acc, white = _acc(e), float(white_robust.float().mean())
    only = int((white_robust & ~e.robust).sum())  # fooled by this attack alone
    flag = PASS if acc >= white - t.tolerance else WARN
    detail = (
        f"{attack} {acc:.3f} vs white-box worst case {white:.3f} ({only} fooled by {attack} only)"
    )
    return _result(name, flag, detail, acc=acc, white_box=white, only=only)


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exactly (terms summed in log space: n may be 10,000)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        + i * math.log(p) + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]  # fmt: skip
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(v - top) for v in logs))


def _side(lookup: Lookup, eps: float, names: tuple[str, ...]) -> tuple[str, torch.Tensor] | None:
    """'a+b' and the per-example worst case of those of `names` evaluated at eps (None: none)."""
    found = {a: e for a in names if (e := lookup(a, eps)) is not None}
    if not found:
        return None
    return "+".join(found), worst_case(e.robust for e in found.values())


def _square_vs_ce(lookup: Lookup, eps: float, t: Thresholds) -> dict[str, Any]:
    """Square, which uses no gradients, must not beat the white-box cross-entropy attacks on the
    same examples by more than chance: an exact one-sided McNemar test on the examples only one
    side fools (b: Square alone, c: the CE attacks alone; b ~ Binomial(b + c, 1/2) if the two
    were equally strong, and a gradient attack that works is much stronger than that)."""
    square, ce = lookup("square", eps), _side(lookup, eps, CE_ATTACKS)
    if square is None or ce is None:
        return _result("square-vs-ce", SKIP, f"square or apgd-ce/pgd-restarts not run at {eps:g}")
    names, ce_robust = ce
    only_square = int((ce_robust & ~square.robust).sum())
    only_ce = int((~ce_robust & square.robust).sum())
    p = binomial_tail(only_square, only_square + only_ce, 0.5)
    acc, ce_acc = _acc(square), float(ce_robust.float().mean())
    flag = WARN if p < t.alpha else PASS
    detail = (
        f"square {acc:.3f} vs {names} {ce_acc:.3f}: {only_square} fooled by square only, "
        f"{only_ce} by {names} only (one-sided McNemar p={p:.2g}, warns below {t.alpha:g})"
    )
    values = {"acc": acc, "ce": ce_acc, "only_square": only_square, "only_ce": only_ce, "p": p}
    return _result("square-vs-ce", flag, detail, ce_attacks=names, **values)


def _ce_vs_dlr(lookup: Lookup, eps: float, t: Thresholds) -> dict[str, Any]:
    """Of the m examples the cross-entropy attacks leave, the DLR/targeted attacks must not break
    significantly more than the share `dlr_share`: an exact one-sided binomial test of the k they
    break against Binomial(m, dlr_share). A large share says the CE loss, not the network,
    stopped the CE attacks."""
    ce, other = _side(lookup, eps, CE_ATTACKS), _side(lookup, eps, OTHER_LOSS_ATTACKS)
    if ce is None or other is None:
        return _result("ce-vs-dlr", SKIP, f"apgd-ce/pgd-restarts or apgd-t not run at {eps:g}")
    (ce_names, ce_robust), (names, robust) = ce, other
    left = int(ce_robust.sum())
    broken = int((ce_robust & ~robust).sum())
    p = binomial_tail(broken, left, t.dlr_share)
    ce_acc, acc = float(ce_robust.float().mean()), float(robust.float().mean())
    share = broken / left if left else 0.0
    flag = WARN if p < t.alpha else PASS
    detail = (
        f"{ce_names} {ce_acc:.3f} vs {names} {acc:.3f}: {broken} of the {left} examples that "
        f"{ce_names} leave fall to {names} ({share:.0%}; p={p:.2g} against a share of "
        f"{t.dlr_share:.0%}, warns below {t.alpha:g})"
        if left
        else f"{ce_names} {ce_acc:.3f}: no example left for {names} to break"
    )
    values = {"ce": ce_acc, "acc": acc, "left": left, "broken": broken, "share": share, "p": p}
    return _result("ce-vs-dlr", flag, detail, ce_attacks=ce_names, attacks=names, **values)


def _library(lookup: Lookup, eps: float, n: int, t: Thresholds) -> dict[str, Any]:
    allowed = math.floor(t.library_per_example * n)
    diffs = {}
    for ours, theirs in (("fgsm", "ta-fgsm"), ("pgd", "ta-pgd")):
        a, b = lookup(ours, eps), lookup(theirs, eps)
        if a is not None and b is not None:
            diffs[ours] = int(a.robust.sum()) - int(b.robust.sum())
    if not diffs:
        return _result(
            "library", SKIP, "no project/torchattacks pair evaluated (torchattacks is optional)"
        )
    worst = max(abs(d) for d in diffs.values())
    flag = PASS if worst <= allowed else WARN
    detail = ", ".join(f"{k} differs by {d} of {n}" for k, d in diffs.items())
    return _result("library", flag, f"{detail} (allowed {allowed})", allowed=allowed, **diffs)
