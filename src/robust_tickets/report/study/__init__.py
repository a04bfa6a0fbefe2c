"""`robust-tickets study`: do sparse robust networks exist? Per setting, method and sparsity,
the worst-case robust accuracy over a fixed set of attacks, with intervals and paired tests,
from the per-image results `evaluate` stored (or from the study's own per-image file).

networks.py finds the evaluated levels and their per-image worst case; per_image.py packs them
into one file and reads it back; stats.py holds the statistics; analysis.py makes the cells and
the tests; output.py writes the CSVs, the Markdown table and the figures."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from robust_tickets.report.study import per_image
from robust_tickets.report.study.analysis import LEVEL0, Study
from robust_tickets.report.study.networks import (
    DEFAULT_ATTACKS,
    Collected,
    collect,
    parse_attacks,
)
from robust_tickets.report.study.output import write

__all__ = ["DEFAULT_ATTACKS", "LEVEL0", "run_study"]


def run_study(
    out: Path,
    stores: Sequence[Path] = (),
    *,
    from_per_image: Sequence[Path] = (),
    attacks: Sequence[str] = DEFAULT_ATTACKS,
    eps: float | None = None,
    n: int | None = None,
    dense: str = LEVEL0,
    exclude_incomplete: bool = False,
    trials: Sequence[int] | None = None,
    say: Callable[[str], None] | None = None,
) -> list[Path]:
    """Collect the networks (from `stores`, from per-image files, or both: the files fix the
    attacks and images the stores are read with), analyse, write."""
    parts = [(str(path), *per_image.load(path)) for path in from_per_image]
    chosen = parts[0][2] if parts else parse_attacks(attacks)
    if stores:
        n = parts[0][1].networks[0].n if parts else n
        parts.append(("STORE", collect(stores, chosen, eps, n, exclude_incomplete, trials), chosen))
    collected, chosen = parts[0][1:] if len(parts) == 1 else per_image.merge(parts)
    if say is not None:
        for line in collected.excluded:
            say(f"left out: {line}")
        for attack, params in sorted(_versions(collected).items()):
            if len(params) > 1:
                say(f"warning: {attack} ran with different parameters: {' | '.join(params)}")
    study = Study(collected.networks, dense)
    return write(out, study, collected, chosen, say)


def _versions(collected: Collected) -> dict[str, list[str]]:
    """Attack -> the parameter strings its entries were run with, over every network."""
    found: dict[str, set[str]] = {}
    for net in collected.networks:
        for attack, params in net.attacks.items():
            found.setdefault(attack, set()).add(params)
    return {attack: sorted(params) for attack, params in found.items()}
