"""Published replication results (docs/replication/metrics.csv, written by `robust-tickets
results DIR --csv`), read as a reference to draw beside a report's own runs.

Only the CSV is read (the replication's weights are not in the repository): for every
(experiment, trial, level) the test row at the table's iteration (or the last evaluated one
before it), then mean ± sample std over trials per % of weights remaining.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from robust_tickets.config import implied_objective
from robust_tickets.errors import UserError
from robust_tickets.report.paper import paper_level
from robust_tickets.report.plot import Reference
from robust_tickets.results import objective_params

LABEL = "published replication (docs/replication)"


def default_path() -> Path:
    """docs/replication/metrics.csv of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "docs" / "replication" / "metrics.csv"


def load_rows(path: Path) -> list[dict[str, Any]]:
    """The test rows of finished levels in a `results --csv` file, typed; a malformed file is a
    one-line error. A level still training (a replication published while it runs) is left out:
    its last evaluation is not at the iteration the reference is labelled with."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = sorted(set(NEEDED) - set(reader.fieldnames or []))
            if missing:
                raise KeyError(f"no column(s) {', '.join(missing)}")
            rows = list(reader)
        return [
            {
                "experiment": r["experiment"],
                "dataset": r["dataset"],
                "model": r["model"],
                "attack": r["attack"],
                "eps": float(r["eps"]),
                "adv_train": r["adv_train"].strip().lower() == "true",
                **_objective(r),
                "strategy": r["strategy"],
                "trial": int(r["trial"]),
                "level": int(r["level"]),
                "remaining": float(r["remaining"]),
                "iteration": int(r["iteration"]),
                "acc": float(r["acc"]),
                "adv_acc": float(r["adv_acc"]),
            }
            for r in rows
            if r.get("split") == "test" and r.get("complete", "True").strip().lower() == "true"
        ]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise UserError(
            f"cannot read replication results {path} ({exc.__class__.__name__}: {exc}): "
            "it must be the output of `robust-tickets results DIR --csv`"
        ) from None


MATCH = ("dataset", "model", "attack", "eps", "adv_train", "strategy")
NEEDED = (*MATCH, "experiment", "trial", "level", "remaining", "iteration", "split", "acc",
          "adv_acc")  # fmt: skip


def _objective(row: dict[str, str]) -> dict[str, str]:
    """A CSV row's objective and its non-default settings; a file written before rows named
    the objective (no such column) trained with the one adv_train implies."""
    adv_train = row["adv_train"].strip().lower() == "true"
    return {
        "objective": row.get("objective") or implied_objective({"adv_train": adv_train}),
        "objective_params": row.get("objective_params") or "",
    }


def _same_setting(row: dict[str, Any], flat: dict[str, Any]) -> bool:
    """Whether a replication row is of the setting of `flat`: the MATCH fields and the
    objective (a madry run is no replication of the paper's mixed one)."""
    if any(row[k] != flat[k] for k in MATCH):
        return False
    objective = flat.get("objective", implied_objective(flat))
    params = objective_params(flat) if "objective" in flat else ""
    return (row["objective"], row["objective_params"]) == (objective, params)


def reference_for(
    rows: list[dict[str, Any]], flat: dict[str, Any], at: int
) -> tuple[Reference, int, int] | None:
    """The replication's points for the setting of `flat` (same dataset, model, attack, eps,
    training mode and strategy), as (reference, iteration used, trials); None if it has none."""
    picked: dict[tuple[str, int, int], dict[str, Any]] = {}
    for r in rows:
        if not _same_setting(r, flat) or r["iteration"] > at:
            continue
        key = (r["experiment"], r["trial"], r["level"])
        if key not in picked or r["iteration"] > picked[key]["iteration"]:
            picked[key] = r
    if not picked:
        return None
    by_remaining: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for r in picked.values():
        by_remaining[paper_level(r["remaining"]) or round(r["remaining"], 1)].append(r)
    points = {}
    for remaining, found in by_remaining.items():
        cell = {}
        for kind, metric in (("natural", "acc"), ("attack", "adv_acc")):
            values = np.array([100 * r[metric] for r in found])
            std = float(values.std(ddof=1)) if len(values) > 1 else math.nan  # no spread
            cell[kind] = (float(values.mean()), std)
        points[remaining] = cell
    iteration = max(r["iteration"] for r in picked.values())
    trials = len({(r["experiment"], r["trial"]) for r in picked.values()})
    label = f"{LABEL}, it. {iteration:,}, {trials} trial(s)"
    return Reference(label, points, trials), iteration, trials


# ---- strong attacks: docs/replication/robustness.csv (`results DIR --csv --eval`) ------------
def robustness_path(metrics: Path) -> Path:
    """The strong-attack file published beside a replication's metrics.csv."""
    return metrics.with_name("robustness.csv")


def load_robustness(path: Path) -> list[dict[str, Any]]:
    """The curve rows (role "curve") of a `results --csv --eval` file, typed."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            needed = (*MATCH, "split", "trial", "remaining", "eval_attack", "eval_eps",
                      "n_examples", "acc", "role")  # fmt: skip
            missing = sorted(set(needed) - set(reader.fieldnames or []))
            if missing:
                raise KeyError(f"no column(s) {', '.join(missing)}")
            rows = [r for r in reader if r["split"] == "robustness" and r["role"] == "curve"]
        return [
            {
                **{k: r[k] for k in ("dataset", "model", "attack", "strategy", "eval_attack")},
                "eps": float(r["eps"]),
                "adv_train": r["adv_train"].strip().lower() == "true",
                **_objective(r),
                "trial": int(r["trial"]),
                "remaining": float(r["remaining"]),
                "eval_eps": float(r["eval_eps"]),
                "n_examples": int(r["n_examples"]),
                "acc": float(r["acc"]),
            }
            for r in rows
        ]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise UserError(
            f"cannot read replication results {path} ({exc.__class__.__name__}: {exc}): "
            "it must be the output of `robust-tickets results DIR --csv --eval`"
        ) from None


def robustness_note(rows: list[dict[str, Any]], flat: dict[str, Any]) -> str | None:
    """One sentence: the replication's training-attack accuracy → worst case at the training eps,
    per % of weights left, for the setting of `flat`; None when it has none."""
    found = [
        r
        for r in rows
        if _same_setting(r, flat)
        and r["eval_eps"] == flat["eps"]
        and r["eval_attack"] in (flat["attack"], "worst-case")
    ]
    if not found:
        return None
    n = max(r["n_examples"] for r in found)
    values: dict[tuple[float, str], list[float]] = defaultdict(list)
    for r in found:
        if r["n_examples"] == n:
            key = paper_level(r["remaining"]) or round(r["remaining"], 1)
            values[(key, r["eval_attack"])].append(100 * r["acc"])
    parts = []
    for remaining in sorted({k for k, _ in values}, reverse=True):
        train, worst = (
            values.get((remaining, flat["attack"])),
            values.get((remaining, "worst-case")),
        )
        if train and worst:
            parts.append(f"{remaining:g}%: {np.mean(train):.1f} → {np.mean(worst):.1f}")
    if not parts:
        return None
    trials = len({r["trial"] for r in found})
    return (
        f"For reference, the {LABEL}: {flat['attack']} → worst case on its first {n:,} test "
        f"images at ε={flat['eps']:g}, mean over {trials} trial(s): " + "; ".join(parts) + "."
    )
