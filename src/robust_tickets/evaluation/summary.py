"""What `evaluate` prints when it is done: per trial and level, clean accuracy, each curve
attack's robust accuracy, their worst case and the masking checks' flags, in 100 columns.

Read from the entries just stored (the same numbers as robustness.csv and checks.json), so the
terminal and the files never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robust_tickets.evaluation.robustness import worst_case
from robust_tickets.evaluation.store import Entry, in_worst_case

WIDTH = 100


@dataclass
class LevelResult:
    """One evaluated ticket, on its first `n` test examples (accuracies are fractions)."""

    trial: int
    level: int
    remaining: float
    n: int
    clean: float
    acc: dict[tuple[str, float], float] = field(default_factory=dict)  # (attack, eps) -> acc
    worst: dict[float, float] = field(default_factory=dict)  # eps -> worst case over attacks
    flag: str | None = None  # the checks' overall flag; None: not run
    warned: list[str] = field(default_factory=list)  # the checks that warned


def level_result(
    trial: int,
    level: int,
    remaining: float,
    entries: dict[str, Entry],
    n: int,
    clean: float,
    checks: dict[str, Any] | None,
) -> LevelResult:
    curve = [e for e in entries.values() if e.role == "curve" and e.n == n]
    result = LevelResult(trial, level, remaining, n, clean)
    by_eps: dict[float, list[Entry]] = {}
    for e in sorted(curve, key=lambda e: (e.eps, e.attack)):
        result.acc[(e.attack, e.eps)] = float(e.robust.float().mean())
        by_eps.setdefault(e.eps, []).append(e)
    for eps, found in by_eps.items():
        robustness = [e for e in found if in_worst_case(e)]
        if robustness:
            result.worst[eps] = float(worst_case(e.robust for e in robustness).float().mean())
    if checks is not None:
        result.flag = checks.get("flag")
        result.warned = [c["check"] for c in checks.get("checks", []) if c["flag"] == "warn"]
    return result


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _table(header: list[str], rows: list[list[str]], last_free: bool = False) -> list[str]:
    """Right-aligned columns (the last left-aligned when `last_free`), two spaces apart."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for row in [header, *rows]:
        cells = [c.rjust(w) for c, w in zip(row, widths, strict=True)]
        if last_free:
            cells[-1] = row[-1]
        out.append("  ".join(cells).rstrip())
    return out


SHORT = {  # check names short enough that six warnings fit beside the numbers
    "monotone": "mono",
    "unbounded": "unbd",
    "more-steps": "steps",
    "black-box": "bbox",
    "transfer": "transf",
    "library": "lib",
}


def _flags(results: list[LevelResult]) -> list[str]:
    """Each level's flag, naming the checks that warned (short names if any list is long)."""

    def text(r: LevelResult, names: dict[str, str]) -> str:
        if r.flag is None:
            return "-"
        return r.flag if not r.warned else "warn: " + ",".join(names.get(w, w) for w in r.warned)

    full = [text(r, {}) for r in results]
    return full if max(map(len, full)) <= 30 else [text(r, SHORT) for r in results]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def format_results(
    path: Path,
    results: list[LevelResult],
    check_eps: float | None,
    width: int = WIDTH,
    order: tuple[str, ...] = (),
) -> str:
    """The results of one experiment as text no wider than `width` columns; attack columns
    in `order` (the order asked for), then any others alphabetically."""
    if not results:
        return f"{path}: no finished level to evaluate"
    n = results[0].n
    radii = sorted({eps for r in results for (_, eps) in r.acc if eps > 0})
    # the main table is at the checks' eps when the curve has it (where the checks looked),
    # else at the largest radius evaluated
    at = check_eps if check_eps in radii else (radii[-1] if radii else None)
    lines = [f"{path}", f"  robust accuracy (%) on the first {n} test examples"]
    found = {a for r in results for (a, eps) in r.acc if eps == at}
    attacks = [a for a in order if a in found] + sorted(found - set(order))
    fixed = ["trial", "level", "left%", "clean"]
    rows_of = lambda names: [  # noqa: E731
        [
            str(r.trial),
            str(r.level),
            f"{r.remaining:.3g}",  # 1.85, not 1.9: the sparse levels differ in the 2nd digit
            _pct(r.clean),
            *[_pct(r.acc.get((a, at))) for a in names],
            _pct(r.worst.get(at)) if at is not None else "-",
        ]
        for r in results
    ]
    any_checks = any(r.flag is not None for r in results)
    flags = _flags(results) if any_checks else []
    room = max(map(len, ["checks", *flags])) + 2 if any_checks else 0
    shown = list(attacks)
    while shown and len(_table([*fixed, *shown, "worst"], rows_of(shown))[0]) > width - 2 - room:
        shown.pop()  # the flags matter more; the hidden attacks are named below the table
    header = [*fixed, *shown, "worst"]
    rows = rows_of(shown)
    if any_checks:
        header.append("checks")
        rows = [[*row, f] for row, f in zip(rows, flags, strict=True)]
    if at is not None:
        lines[-1] += f" at eps {at:g}" + (" (the masking checks' eps)" if at == check_eps else "")
    lines += ["  " + line for line in _table(header, rows, last_free=any_checks)]
    hidden = [a for a in attacks if a not in shown]
    if hidden:
        lines.append(_fit(f"  not shown for width: {', '.join(hidden)}", width))
    if len(radii) > 1:  # the worst case along the whole curve, one column per eps
        lines.append("  worst case (%) by eps:")

        def by_eps(chosen: list[float]) -> list[str]:
            rows = [
                [str(r.trial), str(r.level), *[_pct(r.worst.get(eps)) for eps in chosen]]
                for r in results
            ]
            return _table(["trial", "level", *[f"{eps:g}" for eps in chosen]], rows)

        chosen = list(radii)
        while len(chosen) > 1 and len(by_eps(chosen)[0]) > width - 2:
            chosen.pop()
        lines += ["  " + line for line in by_eps(chosen)]
        if len(chosen) < len(radii):
            lines.append(
                _fit(
                    f"  and at eps {', '.join(f'{e:g}' for e in radii[len(chosen) :])}"
                    " in robustness.csv",
                    width,
                )
            )
    if any_checks:
        lines.append(
            _fit(
                "  checks: details in each level's robustness/checks.json; every number in "
                "its robustness.csv",
                width,
            )
        )
    return "\n".join(lines)
