"""What `robust-tickets evaluate` wrote, as the report reads it: per experiment, the strong
attacks' accuracy at the training eps on the same test examples (`StrongAttacks`), and the
gradient-masking checks per network. Built from `results.iter_rows(..., include_eval=True)`
rows only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from robust_tickets.report.aggregate import Stat, mean_std
from robust_tickets.report.style import eps_flag, setting_title

WORST = "worst-case"
FLAGGED = ("warn", "fail")


def attack_order(attacks: set[str], training: str) -> list[str]:
    """The training attack first, the worst case last, the others by name in between."""
    rest = sorted(a for a in attacks if a not in (training, WORST))
    return [a for a in (training,) if a in attacks] + rest + [a for a in (WORST,) if a in attacks]


class StrongAttacks:
    """The evaluation rows of one experiment at its training eps, over the largest number of
    examples evaluated, grouped by (level, attack)."""

    def __init__(
        self, experiment: str, rows: list[dict[str, Any]], config: dict[str, Any] | None = None
    ) -> None:
        self.experiment = experiment
        first = rows[0]
        # a metrics row names the setting only in part (no PGD steps, learning rate, ...): the
        # experiment's whole config, where the caller has it, fills in the rest
        self.flat = {**(config or {}), **first}
        self.title = setting_title(self.flat)
        self.training = first["attack"]
        robust = [
            r
            for r in rows
            if r["split"] == "robustness" and r["role"] == "curve" and r["eval_eps"] == r["eps"]
        ]
        self.n = max((r["n_examples"] for r in robust), default=0)
        robust = [r for r in robust if r["n_examples"] == self.n]
        self.values: dict[tuple[int, str], list[float]] = defaultdict(list)
        self.params: dict[str, str] = {}
        self.seconds = 0.0
        self.remaining: dict[int, float] = {}
        self.trials: set[int] = set()
        for r in robust:
            self.values[(r["level"], r["eval_attack"])].append(r["acc"])
            if r["eval_attack"] != WORST:
                self.params[r["eval_attack"]] = r["eval_params"] or ""
                self.seconds += float(r["seconds"] or 0)
            self.remaining[r["level"]] = r["remaining"]
            self.trials.add(r["trial"])
        # Clean accuracy and the training attack's accuracy as the paper reports it (the
        # training-time metric: full test set, the level's last evaluation).
        self.clean: dict[int, list[float]] = defaultdict(list)
        self.trained: dict[int, list[float]] = defaultdict(list)
        for r in rows:
            if (
                r["split"] == "test"
                and r["iteration"] == r["train_iters"]
                and r["level"] in self.remaining
                and r["trial"] in self.trials
            ):
                self.clean[r["level"]].append(r["acc"])
                self.trained[r["level"]].append(r["adv_acc"])
        self.attacks = attack_order({a for _, a in self.values}, self.training)
        self.levels = sorted(self.remaining)

    def stat(self, level: int, attack: str) -> Stat:
        return mean_std(self.values.get((level, attack), []))

    def command(self, directory: str) -> str:
        attacks = ",".join(a for a in self.attacks if a != WORST)
        levels = ",".join(map(str, self.levels))
        eps = eps_flag(self.flat["eps"])
        return (
            f"robust-tickets evaluate {directory} --attacks {attacks} --eps {eps} "
            f"--levels {levels} --n-examples {self.n}"
        )


def group(
    rows: list[dict[str, Any]], configs: dict[str, dict[str, Any]] | None = None
) -> list[StrongAttacks]:
    """One StrongAttacks per experiment that has evaluation rows at its training eps;
    `configs` maps an experiment's name to its flat config."""
    by_experiment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_experiment[r["experiment"]].append(r)
    configs = configs or {}
    found = [
        StrongAttacks(name, found, configs.get(name))
        for name, found in sorted(by_experiment.items())
    ]
    return [s for s in found if s.values]


def masking_table(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per evaluated model: experiment, trial, level, remaining, then each check's flag
    (pass/warn/skip) and `overall` (warn if any check warns)."""
    table: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        if r.get("split") != "masking-check":
            continue
        key = (r["experiment"], r["trial"], r["level"])
        entry = table.setdefault(
            key,
            {
                "experiment": r["experiment"],
                "trial": r["trial"],
                "level": r["level"],
                "remaining": r["remaining"],
                "eps": r["eval_eps"],
                "n": r["n_examples"],
            },
        )
        entry[r["check"]] = r["flag"]
    for entry in table.values():
        flags = [v for k, v in entry.items() if v in ("pass", "warn", "skip")]
        entry["overall"] = "warn" if "warn" in flags else "pass"
    return [table[k] for k in sorted(table)]


def flags(checks: list[dict[str, Any]]) -> dict[tuple[str, int], list[str]]:
    """(experiment, level) of every checked network -> names of the masking checks that warn or
    fail in any trial (empty where all pass)."""
    found: dict[tuple[str, int], set[str]] = defaultdict(set)
    for entry in checks:
        key = (entry["experiment"], entry["level"])
        found[key] |= {k for k, v in entry.items() if v in FLAGGED and k != "overall"}
    return {k: sorted(v) for k, v in found.items()}
