"""Where evaluation results live: ``trial_<t>/level_<LL>/robustness/`` beside the training files.

    robustness/
        examples.safetensors  per-example robustness (uint8 [n]) of every (attack, params, eps, n)
                              evaluated so far; its metadata says what each entry is
        robustness.csv        attack,params,eps,n,correct,acc,role,seconds (+ worst-case rows)
        checks.json           the gradient-masking checks and their pass/warn/skip flags
        robustbench.json      RobustBench's model-info entry, when AutoAttack was run as its
                              leaderboard runs it (evaluation/robustbench.py)
        borrowed.json         results copied from a byte-identical level (evaluation/twins.py)
        evaluating.lock       while an `evaluate` works on the level (claims.try_claim): a
                              second one stops instead of overwriting the first one's entries

The training files (metrics.csv, final.safetensors, ...) are only read, never written. Every
write is atomic, and the per-example file is rewritten after each attack, so an interrupted
evaluation resumes where it stopped.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from robust_tickets.evaluation.attacks import EVAL_ATTACKS
from robust_tickets.evaluation.robustness import worst_case
from robust_tickets.store import (
    LevelDir,
    atomic_write_text,
    damaged,
    load_tensor_metadata,
    load_tensors,
    read_json,
    save_tensors,
    write_json,
)

DIRNAME = "robustness"
TABLE_FIELDS = ("attack", "params", "eps", "n", "correct", "acc", "role", "seconds")
WORST = "worst-case"


@dataclass(frozen=True)
class Entry:
    """One attack at one eps on the first `n` test examples of one ticket."""

    attack: str
    params: str
    eps: float
    n: int
    role: str  # "curve" (asked for with --attacks/--eps) or "check" (run for the masking checks)
    seconds: float
    robust: torch.Tensor  # bool [n]

    @property
    def key(self) -> str:
        return entry_key(self.attack, self.params, self.eps, self.n)

    def meta(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("attack", "params", "eps", "n", "role", "seconds")}


def entry_key(attack: str, params: str, eps: float, n: int) -> str:
    return f"{attack}[{params}]@{eps:g}/n={n}"


@dataclass(frozen=True)
class RobustnessDir:
    path: Path

    @classmethod
    def of(cls, level: LevelDir) -> RobustnessDir:
        return cls(level.path / DIRNAME)

    examples = property(lambda self: self.path / "examples.safetensors")
    table = property(lambda self: self.path / "robustness.csv")
    checks = property(lambda self: self.path / "checks.json")
    lock = property(lambda self: self.path / "evaluating.lock")
    robustbench = property(lambda self: self.path / "robustbench.json")

    def load(self) -> dict[str, Entry]:
        if not self.examples.is_file():
            return {}
        tensors = load_tensors(self.examples)
        try:
            meta = json.loads(load_tensor_metadata(self.examples)["entries"])
            return {
                key: Entry(**info, robust=tensors[key].bool())
                for key, info in meta.items()
                if key in tensors
            }
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise damaged(self.examples, f"bad entries metadata: {error}") from None

    def save(self, entries: dict[str, Entry]) -> None:
        tensors = {key: e.robust.to(torch.uint8) for key, e in entries.items()}
        meta = {"entries": json.dumps({key: e.meta() for key, e in entries.items()})}
        save_tensors(self.examples, tensors, meta)

    def write_table(self, entries: dict[str, Entry]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=TABLE_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table_rows(entries))
        atomic_write_text(self.table, buffer.getvalue())

    def read_table(self) -> list[dict[str, Any]]:
        kinds = {"eps": float, "n": int, "correct": int, "acc": float, "seconds": float}
        try:
            with self.table.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            out = [{k: kinds.get(k, str)(row[k]) for k in TABLE_FIELDS} for row in rows]
        except (OSError, ValueError, KeyError, TypeError, csv.Error) as error:
            raise damaged(self.table, error) from None
        return out

    def write_checks(self, report: dict[str, Any]) -> None:
        write_json(self.checks, report)

    def read_checks(self) -> dict[str, Any] | None:
        if not self.checks.is_file():
            return None
        report = read_json(self.checks)
        ok = isinstance(report, dict) and isinstance(report.get("checks"), list)
        if not ok or not all(
            isinstance(c, dict) and {"check", "flag"} <= c.keys() for c in report["checks"]
        ):
            raise damaged(self.checks, "not a checks report")
        return report


def in_worst_case(e: Entry) -> bool:
    """A curve entry of a robustness measure: the paper's measure (`paper`, which counts an
    attacked prediction that is right even when the clean one is wrong) never enters it."""
    measures_robustness = e.attack not in EVAL_ATTACKS or EVAL_ATTACKS.get(e.attack).clean_required
    return e.role == "curve" and measures_robustness


def table_rows(entries: dict[str, Entry]) -> list[dict[str, Any]]:
    """One row per entry, then per (n, eps) the worst case over the curve attacks run there."""
    rows = []
    ordered = sorted(entries.values(), key=lambda e: (e.n, e.eps, e.role, e.attack, e.params))
    for e in ordered:
        rows.append(_row(e.attack, e.params, e.eps, e.n, e.robust, e.role, e.seconds))
    groups: dict[tuple[int, float], list[Entry]] = {}
    for e in ordered:
        if in_worst_case(e):
            groups.setdefault((e.n, e.eps), []).append(e)
    for (n, eps), found in sorted(groups.items()):
        robust = worst_case(e.robust for e in found)
        names = "+".join(sorted({e.attack for e in found}))
        rows.append(_row(WORST, names, eps, n, robust, "curve", sum(e.seconds for e in found)))
    return rows


def _row(attack, params, eps, n, robust, role, seconds) -> dict[str, Any]:
    correct = int(robust.sum())
    return {
        "attack": attack,
        "params": params,
        "eps": eps,
        "n": n,
        "correct": correct,
        "acc": correct / n,
        "role": role,
        "seconds": round(seconds, 3),
    }
