"""The study's networks: every evaluated level of the stores, with its setting, method,
sparsity and seed, and its per-image worst case over one set of attacks.

A *setting* is what is trained and attacked (dataset, model, training attack, eps, adversarial
or natural training, and the objective where adv_train does not imply it); a *method* is how
the ticket is found (criterion, strategy, rewind iteration, one-shot, allocation); a *seed* is
an experiment's base seed and trial (trial t of two methods with the same base seed starts from
the same dense network). Everything else two experiments of one setting and method differ in
is appended to the method's name, so two different runs never share a line."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robust_tickets.config import implied_objective
from robust_tickets.errors import UserError
from robust_tickets.evaluation.attacks import EVAL_ATTACKS
from robust_tickets.evaluation.store import Entry, RobustnessDir
from robust_tickets.store import ExperimentDir, find_experiments, read_level_info

DEFAULT_ATTACKS = ("apgd-ce", "apgd-t", "fab-t", "square")  # AutoAttack's standard set
SETTING_FIELDS = ("dataset", "model", "attack", "eps", "adv_train", "objective")
METHOD_FIELDS = ("criterion", "strategy", "rewind_iter", "one_shot", "prune_method")
SEED_FIELDS = ("seed",)
USABLE_ROLES = ("curve", "check")  # `replaced` entries are an older attack version


@dataclass
class Network:
    """One evaluated ticket: where it is, what it is, and its per-image results."""

    experiment: str  # the experiment directory's name
    trial: int
    level: int
    remaining: float  # % of weights left
    setting: str
    method: str
    seed: str  # "<base seed>/<trial>"
    eps: float
    attacks: dict[str, str]  # attack -> the parameters of the entry used
    checks: list[str] | None  # masking checks that warned (None: no checks.json)
    worst: np.ndarray  # bool [n]: robust under every attack
    clean: np.ndarray | None  # bool [n]: classified correctly (None: no eps-0 entry stored)

    @property
    def n(self) -> int:
        return len(self.worst)

    @property
    def key(self) -> float:
        """The sparsity a cell gathers: % left to 2 decimals (methods with one schedule share
        exact levels; two allocations' levels within 0.005% are one cell)."""
        return round(self.remaining, 2)

    def index(self) -> dict[str, Any]:
        names = ("experiment", "trial", "level", "remaining", "setting", "method", "seed", "eps")
        return {
            **{k: getattr(self, k) for k in names},
            "n": self.n,
            "attacks": self.attacks,
            "checks": self.checks,
        }


@dataclass
class Collected:
    networks: list[Network]
    excluded: list[str] = field(default_factory=list)  # one line per network left out
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> flat config


def setting_label(flat: dict[str, Any]) -> str:
    """A file-name-safe name of the setting: mnist-dense-300-100-pgd-eps0.1-adv."""
    mode = "adv" if flat["adv_train"] else "nat"
    parts = [flat["dataset"], flat["model"], flat["attack"], f"eps{flat['eps']:g}", mode]
    if "objective" in flat and flat["objective"] != implied_objective(flat):
        parts.append(str(flat["objective"]))  # madry, trades: what adv/nat does not say
    return re.sub(r"[^A-Za-z0-9.+=_-]+", "_", "-".join(parts))


def method_label(flat: dict[str, Any]) -> str:
    """criterion/strategy[@rewind iteration][/one-shot][/allocation when not layerwise], or
    `dense` for a run that never prunes."""
    if flat["strategy"] == "dense":
        return "dense"
    strategy = flat["strategy"]
    if strategy == "rewind":
        strategy += f"@{flat['rewind_iter']}"
    parts = [flat["criterion"], strategy]
    parts += ["one-shot"] if flat["one_shot"] else []
    parts += [flat["prune_method"]] if flat["prune_method"] != "layerwise" else []
    return "/".join(parts)


def label_methods(flats: dict[str, dict[str, Any]]) -> dict[str, str]:
    """experiment name -> method label, told apart where two configs of one setting share a
    label but differ in something else (their differing fields appended, `k=v`)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, flat in flats.items():
        groups[(setting_label(flat), method_label(flat))].append(name)
    labels = {}
    for (_, label), names in groups.items():
        ignored = set(SETTING_FIELDS) | set(SEED_FIELDS)
        keys = sorted({k for n in names for k in flats[n]} - ignored)
        differing = [k for k in keys if len({repr(flats[n].get(k)) for n in names}) > 1]
        for name in names:
            extra = ",".join(f"{k}={flats[name].get(k)}" for k in differing)
            labels[name] = f"{label}[{extra}]" if extra else label
    return labels


def parse_attacks(text: str | Sequence[str]) -> tuple[str, ...]:
    names = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    if not names:
        raise UserError("--attacks is empty: give e.g. --attacks apgd-ce,apgd-t,fab-t,square")
    found = []
    for name in names:
        if name not in EVAL_ATTACKS:
            raise UserError(
                f"--attacks: unknown attack {name!r}; known: {', '.join(EVAL_ATTACKS.names())}"
            )
        spec = EVAL_ATTACKS.get(name)
        if not spec.clean_required:
            raise UserError(
                f"--attacks: {spec.name} is not a robustness measure (it counts attacked "
                "predictions whose clean one is wrong): leave it out of the worst case"
            )
        found.append(spec.name)
    return tuple(dict.fromkeys(found))


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _pick(entries: list[Entry], attack: str, eps: float, n: int | None) -> Entry | None:
    """The entry of `attack` at `eps` covering the first n images (n None: the most images),
    fewest images first, a curve entry before a check's."""
    found = [
        e
        for e in entries
        if e.attack == attack and _same(e.eps, eps) and e.role in USABLE_ROLES
        if n is None or e.n >= n
    ]
    if not found:
        return None
    if n is None:
        return max(found, key=lambda e: (e.n, e.role == "curve"))
    return min(found, key=lambda e: (e.n, e.role != "curve"))


@dataclass
class _Level:
    experiment: ExperimentDir
    flat: dict[str, Any]
    trial: int
    level: int
    remaining: float
    eps: float
    entries: list[Entry]
    checks: list[str] | None

    def where(self) -> str:
        return f"{self.experiment.path}/trial_{self.trial}/level_{self.level:02d}"


def _levels(
    stores: Sequence[Path], eps: float | None, trials: Sequence[int] | None = None
) -> tuple[list[_Level], dict[str, Any]]:
    seen: set[str] = set()
    found: dict[str, ExperimentDir] = {}
    for store in stores:
        if not store.exists():
            raise UserError(f"{store} does not exist: give a results directory")
        for exp in find_experiments(store, seen):
            if exp.path.name in found:
                raise UserError(
                    f"experiment {exp.path.name} is in {found[exp.path.name].path.parent} and "
                    f"{exp.path.parent}: give each store once"
                )
            found[exp.path.name] = exp
    levels, flats = [], {}
    for name, exp in sorted(found.items()):
        flat = exp.config().flat()
        for trial, trial_dir in exp.trials():
            if trials is not None and trial not in trials:
                continue
            for level, level_dir in trial_dir.levels():
                store = RobustnessDir.of(level_dir)
                if not store.examples.is_file():
                    continue
                report = store.read_checks()
                warned = None
                if report is not None:
                    warned = [c["check"] for c in report["checks"] if c["flag"] == "warn"]
                remaining = float(read_level_info(level_dir.info)["remaining"])
                at = float(flat["eps"]) if eps is None else eps
                entries = list(store.load().values())
                levels.append(_Level(exp, flat, trial, level, remaining, at, entries, warned))
                flats[name] = flat
    return levels, flats


def collect(
    stores: Sequence[Path],
    attacks: Sequence[str] = DEFAULT_ATTACKS,
    eps: float | None = None,
    n: int | None = None,
    exclude_incomplete: bool = False,
    trials: Sequence[int] | None = None,
) -> Collected:
    """Every evaluated level of `stores` (of `trials` only, if given) with its worst case over
    `attacks` at `eps` (None: each experiment's training eps) on the first `n` test images
    (None: the most images every network has all the attacks on). A network lacking an attack
    is a one-line UserError, or, with `exclude_incomplete`, left out and named in
    `Collected.excluded`."""
    attacks = parse_attacks(attacks)
    if n is not None and n < 1:
        raise UserError(f"--n {n}: give at least one test image")
    levels, flats = _levels(stores, eps, trials)
    if not levels:
        where = ", ".join(map(str, stores))
        if trials is not None:
            where += f" (trials {', '.join(map(str, trials))})"
        raise UserError(
            f"no evaluated level under {where}: run `robust-tickets evaluate DIR --attacks "
            f"{','.join(attacks)}` first"
        )
    complete, excluded = [], []
    for lv in levels:
        missing = [a for a in attacks if _pick(lv.entries, a, lv.eps, n) is None]
        if not missing:
            complete.append(lv)
            continue
        have = sorted({e.attack for e in lv.entries if _same(e.eps, lv.eps)}) or ["nothing"]
        images = f" on {n} images" if n is not None else ""
        line = (
            f"{lv.where()} has no {', '.join(missing)} at eps {lv.eps:g}{images} "
            f"(it has {', '.join(have)})"
        )
        if not exclude_incomplete:
            fix = (
                f"robust-tickets evaluate {lv.experiment.path} --levels {lv.level} "
                f"--attacks {','.join(attacks)} --eps {lv.eps:g}"
            )
            raise UserError(f"{line}: run `{fix}`, or pass --exclude-incomplete")
        excluded.append(line)
    if not complete:
        raise UserError(f"no network has every attack of {','.join(attacks)}: {excluded[0]}")
    if n is None:
        n = min(_pick(lv.entries, a, lv.eps, None).n for lv in complete for a in attacks)
    names = label_methods({lv.experiment.path.name: lv.flat for lv in complete})
    networks = [_network(lv, attacks, n, names[lv.experiment.path.name]) for lv in complete]
    used = {net.experiment for net in networks}
    return Collected(networks, excluded, {k: v for k, v in sorted(flats.items()) if k in used})


def _network(lv: _Level, attacks: Sequence[str], n: int, method: str) -> Network:
    chosen = {a: _pick(lv.entries, a, lv.eps, n) for a in attacks}
    worst = np.ones(n, dtype=bool)
    for entry in chosen.values():
        worst &= entry.robust[:n].numpy().astype(bool)
    clean_entries = [e for e in lv.entries if e.eps == 0 and e.n >= n]
    clean = None
    if clean_entries:
        clean = min(clean_entries, key=lambda e: e.n).robust[:n].numpy().astype(bool)
    return Network(
        experiment=lv.experiment.path.name,
        trial=lv.trial,
        level=lv.level,
        remaining=lv.remaining,
        setting=setting_label(lv.flat),
        method=method,
        seed=f"{lv.flat['seed']}/{lv.trial}",
        eps=lv.eps,
        attacks={a: e.params for a, e in chosen.items()},
        checks=lv.checks,
        worst=worst,
        clean=clean,
    )
