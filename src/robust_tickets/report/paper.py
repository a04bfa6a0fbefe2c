"""The paper's published numbers (Cosentino et al. 2019, Tables 1-2), stored as data.

The rows are copied verbatim from the paper (see ``shared/reference/paper.md``): reset strategy,
test accuracy in percent, mean ± std over 5 trials, at iteration 30,000 of each level. Each cell
reads "normally trained / adversarially trained"; "attack" is the accuracy on adversarial test
examples made with that column's attack (eps 0.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PAPER_ITERATION = 30_000
PAPER_TRIALS = 5

# Columns: % weights left | FGSM natural | FGSM attack | PGD natural | PGD attack
_TABLES = {
    "mnist": """
|100|98.33±.33 / 98.25±.11|8.79±.40 / 94.30±.84|98.37±.03 / 98.38±.09|2.31±.88 / 45.32±.20|
|51.3|98.35±.07 / 98.13±.06|9.32±.22 / 97.09±.24|98.39±.04 / 98.07±.12|2.01±1.02 / 60.14±.99|
|16.9|98.08±.06 / 97.90±.08|11.50±1.38 / 97.46±.16|98.13±.02 / 97.73±.26|0.74±.11 / 59.91±.81|
|8.7|97.84±.10 / 97.54±.14|8.09±1.80 / 97.02±.21|97.85±.08 / 97.20±.14|1.93±.71 / 57.60±.25|
|3.6|97.12±.09 / 97.00±.10|7.42±2.97 / 95.23±.75|97.14±.07 / 95.58±.78|2.16±1.21 / 48.81±.98|
|1.8|95.88±.35 / 95.49±.34|4.17±1.29 / 90.15±1.45|95.47±.23 / 92.67±1.62|4.16±1.28 / 38.23±2.33|
""",
    "fashion_mnist": """
|100|89.04±.33 / 89.00±.28|8.51±1.24 / 86.96±.26|88.91±.04 / 88.83±.11|3.78±.40 / 24.67±.71|
|51.3|88.93±.27 / 88.64±.29|9.03±.67 / 86.79±.34|89.11±.05 / 89.10±.12|4.44±.31 / 28.66±.57|
|16.9|88.45±.11 / 88.12±.16|8.79±1.11 / 86.53±.34|88.40±.14 / 87.87±.32|4.99±.21 / 27.62±.97|
|8.7|88.02±.23 / 87.72±.25|9.85±1.30 / 85.30±.35|87.50±.29 / 86.38±.96|5.44±.38 / 25.75±2.20|
|3.6|87.41±.37 / 87.13±.25|9.37±.65 / 82.30±.69|87.19±.48 / 83.44±1.33|5.69±.99 / 23.83±1.00|
|1.8|86.13±.22 / 85.70±.20|8.96±.62 / 78.07±1.40|86.21±.28 / 81.66±1.35|5.22±1.24 / 23.46±.79|
""",
}
_COLUMNS = (("fgsm", "natural"), ("fgsm", "attack"), ("pgd", "natural"), ("pgd", "attack"))

# The paper's setup apart from dataset, attack and training mode (which select the cell).
# A run is compared only when these hold; other differences (iterations, learning rate ...)
# are listed beside the comparison rather than blocking it.
PAPER_REQUIRED = {
    "model": "dense-300-100",
    "eps": 0.3,
    "prune_method": "layerwise",
    "prune_rate": 0.2,
    "prune_rate_output": 0.1,
    "criterion": "magnitude",  # a random or SNIP ticket is never set against the paper's
    "one_shot": False,
}
# The paper's text says "reset" (the lottery ticket); its code ran `rewind_trained`
# (docs/faithfulness.md): either is set against its tables, and the pages say which ran.
PAPER_STRATEGIES = ("reset", "rewind_trained")
PAPER_REQUIRED_PGD = {"step_size": 0.05, "steps": 10, "random_start": True}
# The paper's losses: CE(natural), and 0.5 CE(natural) + 0.5 CE(adversarial) (objective
# `mixed`); a madry or trades run is never set against its adversarially trained cells.
PAPER_OBJECTIVES = {False: "natural", True: "mixed"}
PAPER_SETUP = {
    "valid_size": 10_000,
    "label_smoothing": 0.1,
    "learning_rate": 1.2e-3,
    "batch_size": 60,
    "train_iters": 50_000,
    "eval_every": 500,
    "l1_reg": 0.0,
    "attack_labels": "predicted",  # the reference's CleverHans attacks get no labels
}
# What the original code ran besides (docs/faithfulness.md): listed as differences when a
# compared run uses the defaults instead, never blocking the comparison.
ORIGINAL_CODE = {
    "strategy": "rewind_trained",
    "train_loop": "keras",
    "adam": "keras",
    "loss_form": "clipped",
}


@dataclass(frozen=True)
class PaperCell:
    """One published value: accuracy in percent, mean and std over the paper's 5 trials."""

    mean: float
    std: float


def _parse(cell: str) -> PaperCell:
    mean, std = cell.strip().split("±")
    return PaperCell(float(mean), float(std))


def _load() -> dict[tuple[str, str, bool], dict[float, dict[str, PaperCell]]]:
    """{(dataset, attack, adv_train): {remaining: {"natural"|"attack": PaperCell}}}."""
    out: dict[tuple[str, str, bool], dict[float, dict[str, PaperCell]]] = {}
    for dataset, text in _TABLES.items():
        for line in text.strip().splitlines():
            remaining, *cells = [c for c in line.strip().strip("|").split("|")]
            for (attack, kind), cell in zip(_COLUMNS, cells, strict=True):
                normal, adversarial = cell.split("/")
                for adv_train, value in ((False, normal), (True, adversarial)):
                    rows = out.setdefault((dataset, attack, adv_train), {})
                    rows.setdefault(float(remaining), {})[kind] = _parse(value)
    return out


PAPER = _load()
PAPER_LEVELS = (100.0, 51.3, 16.9, 8.7, 3.6, 1.8)


def paper_rows(flat: dict[str, Any]) -> dict[float, dict[str, PaperCell]] | None:
    """The paper's rows for a run with this flat config, or None when the paper has none."""
    key = (flat["dataset"], flat["attack"], bool(flat["adv_train"]))
    if key not in PAPER:
        return None
    if flat.get("strategy") not in PAPER_STRATEGIES:
        return None
    if flat.get("objective", PAPER_OBJECTIVES[key[2]]) != PAPER_OBJECTIVES[key[2]]:
        return None
    required = dict(PAPER_REQUIRED)
    if flat["attack"] == "pgd":
        required.update(PAPER_REQUIRED_PGD)
    if any(flat.get(name) != value for name, value in required.items()):
        return None
    return PAPER[key]


def paper_level(remaining: float) -> float | None:
    """The paper's row (100, 51.3, 16.9, 8.7, 3.6, 1.8) that `remaining` percent is, or None.
    Matched within 3% rather than by rounding: the paper's "1.8" is 1.85% of the weights (it
    truncates), which rounds to 1.9."""
    return next((p for p in PAPER_LEVELS if abs(remaining / p - 1) < 0.03), None)


def paper_cell(rows: dict[float, dict[str, PaperCell]], remaining: float) -> dict[str, PaperCell]:
    """The paper's cells at `remaining` percent (the paper's row it is, see paper_level), or {}."""
    level = paper_level(remaining)
    return {} if level is None else rows.get(level, {})


def setup_differences(flat: dict[str, Any]) -> list[str]:
    """How a compared run's setup differs from the paper's (``train_iters 1000 (paper 50000)``)."""

    def show(value: Any) -> str:
        return f"{value:g}" if isinstance(value, int | float) else str(value)

    return [
        f"{name} {show(flat[name])} (paper {show(value)})"
        for name, value in PAPER_SETUP.items()
        if name in flat and flat[name] != value
    ] + [
        f"{name} {show(flat[name])} (the original code: {value})"
        for name, value in ORIGINAL_CODE.items()
        if name in flat and flat[name] != value
    ]
