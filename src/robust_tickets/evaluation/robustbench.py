"""A ticket's result as a RobustBench leaderboard entry.

RobustBench (github.com/RobustBench/robustbench) describes each model of its leaderboards in a
JSON file, ``model_info/<dataset>/<threat model>/<name>.json``: link, name, authors,
additional_data, number_forward_passes, dataset, venue, architecture, eps (``"8/255"``),
clean_acc, reported, autoattack_acc (percentages as strings, two decimals), unreliable and a
footnote. `entry` fills those from one evaluated level and adds what a leaderboard of tickets
needs beside them: the threat model, the weights left and the sparsity, and `protocol`, which
says whether the numbers were measured the way the leaderboard's are.

RobustBench's protocol is standard AutoAttack at full strength (APGD-CE, APGD-T, FAB-T, Square;
100 iterations, 5000 queries) on the whole test set at the leaderboard's eps (CIFAR-10 L-inf:
8/255). An entry measured any other way (the first N test images, a lighter AutoAttack, another
eps, a dataset without a leaderboard) says so in `protocol.problems`, in its footnote and with
`protocol.robustbench` false; it is never passed off as a leaderboard number. `evaluate` writes
``robustness/robustbench.json`` beside a level's results when the protocol matches, and an entry
for every evaluated level, marked, with ``--robustbench-entry DIR``.
"""

from __future__ import annotations

from typing import Any

from robust_tickets.components import Params
from robust_tickets.config import ExperimentConfig

# the leaderboard's AutoAttack, by the flat names of the `autoattack` preset's settings
FULL_STRENGTH = {"apgd_steps": 100, "fab_steps": 100, "square_queries": 5000}
THREAT_MODEL = "Linf"
# the datasets RobustBench keeps an L-inf leaderboard of, at their eps
LEADERBOARD_EPS = {"cifar10": 8 / 255}


def eps_text(eps: float) -> str:
    """RobustBench's spelling of a radius: ``8/255`` when it is k/255, else the number."""
    k = eps * 255
    return f"{round(k)}/255" if abs(k - round(k)) < 1e-6 and k >= 1 else f"{eps:g}"


def percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}"


def protocol_problems(
    dataset: str, eps: float, n: int, test_size: int, strength: Params
) -> list[str]:
    """How a measurement departs from RobustBench's protocol (empty: it does not); `strength`:
    the params of the `autoattack` preset it was measured with."""
    problems = []
    if dataset not in LEADERBOARD_EPS:
        problems.append(f"RobustBench keeps no {THREAT_MODEL} leaderboard for {dataset}")
    elif abs(eps - LEADERBOARD_EPS[dataset]) > 1e-9:
        standard = eps_text(LEADERBOARD_EPS[dataset])
        problems.append(f"eps {eps_text(eps)}, not the leaderboard's {standard}")
    if n < test_size:
        problems.append(f"the first {n} of the {test_size} test images, not all of them")
    flat = strength.flat()
    used = {k: flat[k] for k in FULL_STRENGTH}
    lighter = {k: v for k, v in used.items() if v != FULL_STRENGTH[k]}
    if lighter:
        changed = ", ".join(f"{k} {v} (standard {FULL_STRENGTH[k]})" for k, v in lighter.items())
        problems.append(f"AutoAttack not at standard strength: {changed}")
    return problems


def entry(
    config: ExperimentConfig,
    *,
    name: str,
    remaining: float,
    clean: float,
    robust: float,
    n: int,
    test_size: int,
    strength: Params,
    params: str,
) -> dict[str, Any]:
    """The entry of one ticket: `clean` and `robust` (AutoAttack) accuracies as fractions of the
    `n` test images attacked, `remaining` the percent of weights its masks keep, `strength` the
    `autoattack` preset's params and `params` its stored parameters (its implementation and
    strength)."""
    eps = config.attack.eps
    problems = protocol_problems(config.data.dataset, eps, n, test_size, strength)
    training = "adversarially" if config.train.adv_train else "naturally"
    footnote = (
        f"A pruned network keeping {remaining:.2f}% of its prunable weights (sparsity "
        f"{100 - remaining:.2f}%), trained {training} ({config.attack.attack}, strategy "
        f"{config.prune.strategy.name}) by robust_tickets."
    )
    if problems:
        footnote += " NOT RobustBench's protocol: " + "; ".join(problems) + "."
    return {
        "link": "",
        "name": name,
        "authors": "",
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": config.data.dataset,
        "venue": "",
        "architecture": config.model.model,
        "eps": eps_text(eps),
        "clean_acc": percent(clean),
        "reported": percent(robust),  # no paper to quote: our own AutoAttack number
        "autoattack_acc": percent(robust),
        "unreliable": False,
        "footnote": footnote,
        "threat_model": THREAT_MODEL,
        "remaining_weights": f"{remaining:.2f}",
        "sparsity": f"{100 - remaining:.2f}",
        "protocol": {
            "robustbench": not problems,
            "problems": problems,
            "n_examples": n,
            "test_size": test_size,
            "autoattack": params,
        },
    }
