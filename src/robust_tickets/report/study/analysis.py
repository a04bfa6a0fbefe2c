"""The study's numbers from its networks: per-network accuracy with a Wilson interval, per cell
(setting, method, sparsity) the mean over seeds with a t-interval, and the paired tests.

Tests, each in a family Holm-corrected on its own (setting x comparison x unit):
- per seed, on the same images: exact McNemar of each ticket against the dense network of its
  seed (`vs-dense`), and of each pair of methods at the same sparsity (`methods`);
- across seeds: the paired t-test of the per-seed accuracy differences (and, beside it, the
  exact sign-flip p, which with few seeds cannot be small: 0.25 at best with 3).
The dense network of a seed is, by default, level 0 of the ticket's own trial (`LEVEL0`), or the
network of a method chosen by name (a separately trained dense run) with the same seed."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robust_tickets.errors import UserError
from robust_tickets.report.study import stats
from robust_tickets.report.study.networks import Network

LEVEL0 = "level0"


def method_order(methods: set[str]) -> list[str]:
    """Magnitude IMP with reset first (the lottery-ticket method), dense last, else by name."""
    return sorted(methods, key=lambda m: (m != "magnitude/reset", m == "dense", m))


@dataclass
class Cell:
    setting: str
    method: str
    remaining: float
    networks: list[Network]  # one per seed, by seed

    @property
    def accs(self) -> list[float]:
        return [float(net.worst.mean()) for net in self.networks]

    def interval(self) -> tuple[float, float, float]:
        """(mean, low, high): the t-interval over seeds (clipped to [0, 1], where an accuracy
        lies: with 2-3 seeds it is wide), or one seed's Wilson interval."""
        if len(self.networks) == 1:
            net = self.networks[0]
            return (float(net.worst.mean()), *stats.wilson(int(net.worst.sum()), net.n))
        mean, low, high = stats.t_interval(self.accs)
        return mean, max(0.0, low), min(1.0, high)

    def clean(self) -> float:
        found = [float(net.clean.mean()) for net in self.networks if net.clean is not None]
        return math.fsum(found) / len(found) if len(found) == len(self.networks) else math.nan

    def warned(self) -> dict[str, int]:
        """Masking check -> how many of the cell's networks it warned for."""
        counts: dict[str, int] = defaultdict(int)
        for net in self.networks:
            for check in net.checks or []:
                counts[check] += 1
        return dict(sorted(counts.items()))

    def unchecked(self) -> int:
        return sum(net.checks is None for net in self.networks)


@dataclass
class Study:
    networks: list[Network]
    dense: str = LEVEL0
    cells: list[Cell] = field(default_factory=list)
    tests: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # tests that could not be made

    def settings(self) -> list[str]:
        return sorted({c.setting for c in self.cells})

    def methods(self, setting: str) -> list[str]:
        return method_order({c.method for c in self.cells if c.setting == setting})

    def cell(self, setting: str, method: str, remaining: float) -> Cell | None:
        return self._by_key.get((setting, method, remaining))

    def dense_cell(self, setting: str) -> tuple[str, Cell] | None:
        """(what it is, the cell) of the setting's dense network, drawn as the band."""
        if self.dense != LEVEL0:
            found = [c for c in self.cells if c.setting == setting and c.method == self.dense]
            return (self.dense, max(found, key=lambda c: c.remaining)) if found else None
        level0 = [c for c in self.cells if c.setting == setting and _is_level0(c)]
        if not level0:
            return None
        first = min(level0, key=lambda c: method_order({c.method for c in level0}).index(c.method))
        return f"level 0 of {first.method}", first

    def __post_init__(self) -> None:
        groups: dict[tuple[str, str, float], list[Network]] = defaultdict(list)
        for net in self.networks:
            groups[(net.setting, net.method, net.key)].append(net)
        order = method_order({net.method for net in self.networks})
        for (setting, method, remaining), nets in sorted(
            groups.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]), -kv[0][2])
        ):
            seeds = [net.seed for net in nets]
            if len(set(seeds)) != len(seeds):
                twice = next(s for s in seeds if seeds.count(s) > 1)
                raise UserError(
                    f"{setting} {method} at {remaining:g}% has seed {twice} twice (levels of one "
                    "trial with the same % left?): give the study one network per seed"
                )
            self.cells.append(Cell(setting, method, remaining, sorted(nets, key=_seed_order)))
        self._by_key = {(c.setting, c.method, c.remaining): c for c in self.cells}
        if self.dense != LEVEL0 and not any(c.method == self.dense for c in self.cells):
            known = sorted({c.method for c in self.cells})
            raise UserError(f"--dense {self.dense}: no such method; methods: {', '.join(known)}")
        self.tests = self._vs_dense() + self._between_methods()
        families: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for test in self.tests:
            families[test["family"]].append(test)
        for members in families.values():
            for test, adjusted in zip(members, stats.holm([t["p"] for t in members]), strict=True):
                test["p_holm"] = adjusted

    # ---- tests ------------------------------------------------------------------------------
    def _dense_of(self, net: Network) -> Network | None:
        if self.dense == LEVEL0:
            return self._level0.get((net.experiment, net.trial))
        found = [c for c in self.cells if c.setting == net.setting and c.method == self.dense]
        if not found:
            return None
        top = max(found, key=lambda c: c.remaining)
        return next((d for d in top.networks if d.seed == net.seed), None)

    def _tickets(self) -> list[Cell]:
        return [c for c in self.cells if not _is_level0(c) and c.method != self.dense]

    def _vs_dense(self) -> list[dict[str, Any]]:
        self._level0 = {(n.experiment, n.trial): n for n in self.networks if n.level == 0}
        out = []
        for cell in self._tickets():
            pairs = []
            for net in cell.networks:
                dense = self._dense_of(net)
                if dense is None:
                    self.skipped.append(
                        f"{cell.setting} {cell.method} {cell.remaining:g}% seed {net.seed}: "
                        f"no evaluated dense network ({self.dense}) of that seed"
                    )
                    continue
                pairs.append((net, dense))
                out.append(_mcnemar(cell, "vs-dense", net, dense, cell.method, "dense"))
            if pairs:
                out.append(_seeds(cell, "vs-dense", pairs, cell.method, "dense"))
        return out

    def _between_methods(self) -> list[dict[str, Any]]:
        out = []
        by_place: dict[tuple[str, float], list[Cell]] = defaultdict(list)
        for cell in self._tickets():
            by_place[(cell.setting, cell.remaining)].append(cell)
        for _place, cells in sorted(by_place.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
            order = method_order({c.method for c in cells})
            cells = sorted(cells, key=lambda c: order.index(c.method))
            for i, a in enumerate(cells):
                for b in cells[i + 1 :]:
                    seeds_b = {net.seed: net for net in b.networks}
                    pairs = [(net, seeds_b[net.seed]) for net in a.networks if net.seed in seeds_b]
                    for x, y in pairs:
                        out.append(_mcnemar(a, "methods", x, y, a.method, b.method))
                    if pairs:
                        out.append(_seeds(a, "methods", pairs, a.method, b.method))
        return out


def _is_level0(cell: Cell) -> bool:
    return all(net.level == 0 for net in cell.networks)


def _seed_order(net: Network) -> tuple[int, ...]:
    return tuple(int(part) if part.lstrip("-").isdigit() else 0 for part in net.seed.split("/"))


def _base(cell: Cell, comparison: str, unit: str, a: str, b: str) -> dict[str, Any]:
    return {
        "family": f"{cell.setting}/{comparison}/{unit}",
        "setting": cell.setting,
        "comparison": comparison,
        "remaining": cell.remaining,
        "a": a,
        "b": b,
    }


def _mcnemar(cell: Cell, comparison: str, x: Network, y: Network, a: str, b: str) -> dict:
    if x.n != y.n:
        raise UserError(f"{x.experiment} and {y.experiment} were evaluated on different images")
    a_only, b_only = int((x.worst & ~y.worst).sum()), int((~x.worst & y.worst).sum())
    acc_a, acc_b = float(x.worst.mean()), float(y.worst.mean())
    return {
        **_base(cell, comparison, "images", a, b),
        "test": "mcnemar-exact",
        "seed": x.seed,
        "seeds": 1,
        "n": x.n,
        "acc_a": acc_a,
        "acc_b": acc_b,
        "diff": acc_a - acc_b,
        "a_only": a_only,
        "b_only": b_only,
        "statistic": math.nan,
        "df": None,
        "p": stats.mcnemar(a_only, b_only),
        "p_signflip": math.nan,
    }


def _seeds(cell: Cell, comparison: str, pairs: list[tuple[Network, Network]], a: str, b: str):
    accs_a = [float(x.worst.mean()) for x, _ in pairs]
    accs_b = [float(y.worst.mean()) for _, y in pairs]
    # from image counts, so equal differences are equal floats (no spread of 1e-17 from rounding
    # that would make the t-test's p look like certainty)
    diffs = [(int(x.worst.sum()) - int(y.worst.sum())) / x.n for x, y in pairs]
    t, p = stats.paired_t(diffs)
    return {
        **_base(cell, comparison, "seeds", a, b),
        "test": "paired-t",
        "seed": "",
        "seeds": len(pairs),
        "n": pairs[0][0].n,
        "acc_a": float(np.mean(accs_a)),
        "acc_b": float(np.mean(accs_b)),
        "diff": math.fsum(diffs) / len(diffs),
        "a_only": None,
        "b_only": None,
        "statistic": t,
        "df": len(pairs) - 1 if len(pairs) > 1 else None,
        "p": p,
        "p_signflip": stats.sign_flip(diffs),
    }
